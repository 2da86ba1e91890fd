package alert

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// The alert object is written by hand, key by key, in the order and with
// the bytes encoding/json wrote for jsonAlert (strings escaped as it
// escapes them, HTML included; numbers as it writes them), which the tests
// hold it to with a fuzz test. Why: on a log with a replay in every third
// line, encoding/json's reflection over jsonAlert was 13% of a scan's CPU
// (README, Performance); alerts are the one thing graceguard encodes per
// event. The rare nested objects (Response) still go through encoding/json.

// AppendJSON appends a's JSON object, the bytes MarshalJSON returns, to b:
// a sink writing many alerts reuses one buffer instead of a new slice an
// alert.
func (a Alert) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, a.ID)
	b = append(b, `,"time":"`...)
	b = a.Time.UTC().AppendFormat(b, TimeFormat)
	b = append(b, `","rule":`...)
	b = appendJSONString(b, a.Rule)
	b = append(b, `,"severity":`...)
	b = appendJSONString(b, a.Severity.String())
	b = append(b, `,"summary":`...)
	b = appendJSONString(b, a.Summary)
	b = append(b, `,"user":`...)
	b = appendJSONString(b, a.User)
	b = append(b, `,"ip":`...)
	b = appendNullableString(b, a.IP)
	b = append(b, `,"prev_ip":`...)
	b = appendNullableString(b, a.PrevIP)
	b = append(b, `,"prev_time":`...)
	if a.PrevTime.IsZero() {
		b = append(b, "null"...)
	} else {
		b = append(b, '"')
		b = a.PrevTime.UTC().AppendFormat(b, TimeFormat)
		b = append(b, '"')
	}
	b = append(b, `,"session":`...)
	b = appendNullableString(b, a.Session)
	b = append(b, `,"idp":`...)
	b = appendJSONString(b, a.IdP)
	b = append(b, `,"url":`...)
	b = appendJSONString(b, a.URL)
	b = append(b, `,"source":`...)
	b = appendJSONString(b, a.Source)
	b = append(b, `,"geo":`...)
	b, err := appendGeo(b, a.Geo)
	if err != nil {
		return nil, err
	}
	b = append(b, `,"prev_geo":`...)
	if b, err = appendGeo(b, a.PrevGeo); err != nil {
		return nil, err
	}
	b = append(b, `,"distance_km":`...)
	if b, err = appendNullableFloat(b, a.DistanceKm); err != nil {
		return nil, err
	}
	b = append(b, `,"speed_kmh":`...)
	if b, err = appendNullableFloat(b, a.SpeedKmh); err != nil {
		return nil, err
	}
	b = append(b, `,"interval_ms":`...)
	if a.IntervalMs == nil {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendInt(b, *a.IntervalMs, 10)
	}
	b = append(b, `,"raw":`...)
	b = appendJSONString(b, a.Raw)
	b = append(b, `,"response":`...)
	if a.Response == nil {
		b = append(b, "null"...)
	} else {
		r, err := json.Marshal(a.Response)
		if err != nil {
			return nil, err
		}
		b = append(b, r...)
	}
	b = appendOmittable(b, `,"peer":`, a.Peer)
	b = appendOmittable(b, `,"prev_peer":`, a.PrevPeer)
	b = appendOmittable(b, `,"via":`, a.Via)
	b = appendOmittable(b, `,"agent":`, a.Agent)
	b = appendOmittable(b, `,"prev_agent":`, a.PrevAgent)
	b = appendOmittable(b, `,"attribution":`, a.Attribution)
	if len(a.Candidates) > 0 {
		b = append(b, `,"candidates":[`...)
		for i, c := range a.Candidates {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, c)
		}
		b = append(b, ']')
	}
	return append(b, '}'), nil
}

// appendGeo appends g as encoding/json writes a *Geo: null, or its
// non-empty fields.
func appendGeo(b []byte, g *Geo) ([]byte, error) {
	if g == nil {
		return append(b, "null"...), nil
	}
	b = append(b, '{')
	start := len(b)
	key := func(k string) {
		if len(b) > start {
			b = append(b, ',')
		}
		b = append(b, k...)
	}
	if g.Country != "" {
		key(`"country":`)
		b = appendJSONString(b, g.Country)
	}
	if g.City != "" {
		key(`"city":`)
		b = appendJSONString(b, g.City)
	}
	var err error
	if g.Lat != nil {
		key(`"lat":`)
		if b, err = appendJSONFloat(b, *g.Lat); err != nil {
			return nil, err
		}
	}
	if g.Lon != nil {
		key(`"lon":`)
		if b, err = appendJSONFloat(b, *g.Lon); err != nil {
			return nil, err
		}
	}
	if g.RadiusKm != 0 {
		key(`"radius_km":`)
		b = strconv.AppendInt(b, int64(g.RadiusKm), 10)
	}
	if g.ASN != 0 {
		key(`"asn":`)
		b = strconv.AppendUint(b, uint64(g.ASN), 10)
	}
	if g.Org != "" {
		key(`"org":`)
		b = appendJSONString(b, g.Org)
	}
	return append(b, '}'), nil
}

func appendNullableString(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return appendJSONString(b, s)
}

// appendOmittable appends key and s, or nothing for an empty s.
func appendOmittable(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	return appendJSONString(append(b, key...), s)
}

func appendNullableFloat(b []byte, f *float64) ([]byte, error) {
	if f == nil {
		return append(b, "null"...), nil
	}
	return appendJSONFloat(b, *f)
}

// appendJSONFloat writes f as encoding/json does (ECMAScript's number to
// string): fixed notation, exponent notation below 1e-6 and from 1e21 on
// with the exponent's leading zero dropped; NaN and infinities are an
// error, as they are to encoding/json.
func appendJSONFloat(b []byte, f float64) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, fmt.Errorf("json: unsupported value: %s", strconv.FormatFloat(f, 'g', -1, 64))
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if n := len(b); format == 'e' && n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
		b[n-2] = b[n-1]
		b = b[:n-1]
	}
	return b, nil
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s quoted as encoding/json quotes a string with
// HTML escaped: '"' and '\\' and the control characters escaped (\b, \f,
// \n, \r, \t by name), '<', '>' and '&' as \u003c, \u003e and \u0026,
// U+2028 and U+2029 as \u2028 and \u2029, and each byte that is not
// UTF-8 as \ufffd.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= ' ' && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(append(b, s[start:i]...), `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(append(b, s[start:i]...), '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(append(b, s[start:]...), '"')
}
