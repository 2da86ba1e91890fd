package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/graceguard/graceguard/idp"
)

// frontProxyFlags put the bundled IdP behind its ingress-nginx stand-in (idp
// serve, simulate).
type frontProxyFlags struct {
	listen string // idp serve only: where the proxy listens
	log    string
	from   string
	// logTyped and fromTyped: --proxy-log and --proxy-from were set on
	// the command line (noteGiven).
	logTyped, fromTyped bool
}

// noteGiven notes which proxy flags were typed on cmd's command line:
// without the proxy they would do nothing. Set in the config file or the
// environment they are defaults for when the proxy runs, as the
// --revoke-* flags are (noteGiven in revoke.go): a config file that
// simulate shares, where --proxy-log is what starts the proxy, must not
// stop idp serve.
func (p *frontProxyFlags) noteGiven(cmd *cobra.Command) {
	p.logTyped = onCommandLine(cmd.Context(), "proxy-log")
	p.fromTyped = onCommandLine(cmd.Context(), "proxy-from")
}

func (p *frontProxyFlags) addFlags(f *pflag.FlagSet) {
	f.StringVar(&p.log, "proxy-log", "", "the proxy's access log `FILE`, in ingress-nginx's default format (upstreaminfo), appended to")
	f.StringVar(&p.from, "proxy-from", "", "the loopback `ADDR` the proxy connects to the IdP from: what the IdP logs (default 127.0.0.3 on Linux)")
}

// check refuses proxy flags without the one that turns the proxy on.
func (p frontProxyFlags) check(on bool, onFlag string) error {
	switch {
	case on && p.log == "":
		return usageErrorf("%s needs --proxy-log FILE: the proxy's access log is what names the clients", onFlag)
	case !on && p.fromTyped:
		return usageErrorf("--proxy-from needs %s", onFlag)
	case !on && p.logTyped:
		// idp serve's: simulate's --proxy-log is its onFlag. Ignored, it
		// left an IdP serving with no proxy and the access log unwritten.
		return usageErrorf("--proxy-log needs %s: without the proxy there is no access log to write", onFlag)
	}
	if on && p.from != "" {
		a, err := netip.ParseAddr(p.from)
		if err != nil {
			return usageErrorf("--proxy-from: %v", err)
		}
		if !a.IsLoopback() {
			return usageErrorf("--proxy-from %s: want a loopback address", a)
		}
	}
	return nil
}

// runningProxy is a started proxy: listening, serving once serve is called.
type runningProxy struct {
	ln    net.Listener
	proxy *idp.Proxy
	log   *idp.LogFile
	done  chan error
}

// start opens the access log, listens on addr and builds a proxy in front
// of upstream (the IdP's base URL). flag names the flag addr came from, so
// that an address that cannot be listened on is the user's to fix (exit
// 2); empty, addr is graceguard's own choice and a failure a runtime one.
func (p frontProxyFlags) start(flag, addr, upstream string, diag *slog.Logger) (*runningProxy, error) {
	f, err := idp.OpenLogFile(p.log)
	if err != nil {
		return nil, fmt.Errorf("--proxy-log: %w", err)
	}
	cfg := idp.ProxyConfig{Upstream: upstream, Log: f, Diag: diag}
	if p.from != "" {
		cfg.From = netip.MustParseAddr(p.from) // checked by check
	}
	proxy, err := idp.NewProxy(cfg)
	if err != nil {
		f.Close()
		return nil, usageError{err}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		f.Close()
		if flag != "" {
			return nil, listenError(flag, addr, err)
		}
		return nil, fmt.Errorf("proxy listen: %w", err)
	}
	return &runningProxy{ln: ln, proxy: proxy, log: f, done: make(chan error, 1)}, nil
}

func (r *runningProxy) serve(ctx context.Context) { r.done <- r.proxy.Serve(ctx, r.ln) }

// wait returns once serve has returned, with its error or the log's.
func (r *runningProxy) wait() error {
	if err := <-r.done; err != nil {
		return err
	}
	if err := r.proxy.LogErr(); err != nil {
		return fmt.Errorf("write --proxy-log: %w", err)
	}
	return nil
}

func (r *runningProxy) close() {
	r.ln.Close()
	r.log.Close()
}
