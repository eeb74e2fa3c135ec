// Command goproxy is the guard benchmark's baseline: a stock net/http/httputil.ReverseProxy in front
// of one upstream, with nothing added. Its transport keeps as many idle connections as the guard's
// (the stock default of 2 per host would measure connection churn, not proxying), and it flushes
// every write, as the guard does for streams. It prints its base URL on stdout's first line.
//
//	goproxy -upstream http://127.0.0.1:9000
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	upstream := flag.String("upstream", "", "upstream base URL")
	flag.Parse()
	u, err := url.Parse(*upstream)
	if err != nil || u.Host == "" {
		log.Fatalf("goproxy: -upstream must be a URL, got %q", *upstream)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 64
	t.DisableCompression = true
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = t
	rp.FlushInterval = -1
	rp.ErrorLog = log.New(os.Stderr, "goproxy: ", 0)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("http://" + ln.Addr().String())
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Fatal(err)
		}
	}()
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	<-stop
	_ = srv.Close()
}
