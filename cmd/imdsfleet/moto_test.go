package main

import (
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// startMoto starts moto_server (an AWS emulator nobody here wrote) on a
// free loopback port, waits until it answers, stops it at test end and
// returns its URL. It skips the test, naming what, when moto is absent.
func startMoto(t *testing.T, what string) string {
	t.Helper()
	path, err := exec.LookPath("moto_server")
	if err != nil {
		t.Skipf("moto_server is not on PATH: install moto (pip install 'moto[server]') to run %s", what)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(path, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	if err := cmd.Start(); err != nil {
		t.Fatalf("start moto_server: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	// Waiting for a server to start is no timing assertion; the limit only
	// keeps a moto that never starts from hanging the suite, and is long
	// enough for a start on a loaded machine.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Get(url + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			return url
		}
		if time.Now().After(deadline) {
			t.Fatalf("moto_server did not answer on %s within 2 minutes: %v", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
