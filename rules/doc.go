// Package rules owns what makes an event an alert: rule files (YAML of expr
// expressions, with their embedded tests), the built-in rule set embedded
// in the binary, the environment a rule sees (Env: event, prev, user,
// session, geo, travel and the helpers), compilation of each rule once to
// an expr program, and the Engine that evaluates the rules that can match
// an event's kind, fills alerts and applies each rule's throttle.
//
// It judges a correlate.Context and returns alerts; it must not do I/O
// (files are read by its callers and handed over as bytes), keep history
// (package correlate does) or deliver anything (package sinks does).
// Problems in rule files are reported as Problems, each with its file,
// line and column.
package rules
