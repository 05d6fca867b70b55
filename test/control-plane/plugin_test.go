package controlplane

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

type pluginKind string

const (
	pluginOurs pluginKind = "vault-kubernetes-kms (this project, packaged artifact)"
	pluginGo   pluginKind = "vault-kubernetes-kms v1.4.0 (Go)"
)

// kmsPlugin is one plugin process serving the socket kube-apiserver dials.
type kmsPlugin struct {
	kind       pluginKind
	dir        string
	socket     string
	healthPort int
	servesV1   bool
	bao        *openBao
	proc       *process
	starts     int
}

func newPlugin(kind pluginKind, dir string, bao *openBao, servesV1 bool) (*kmsPlugin, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	p := &kmsPlugin{kind: kind, dir: dir, socket: filepath.Join(dir, "vaultkms.socket"), servesV1: servesV1, bao: bao}
	// The seed's token file: /opt/kms/token, mode 0400.
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte(bao.pluginToken+"\n"), 0o400); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *kmsPlugin) command() (string, []string) {
	switch p.kind {
	case pluginGo:
		// The Go plugin takes a bare port (it binds every interface) and no
		// token file.
		return env.goPluginBin, []string{
			"-vault-address=" + p.bao.addr,
			"-auth-method=token",
			"-token=" + p.bao.pluginToken,
			"-health-port=" + strconv.Itoa(p.healthPort),
			"-socket=unix://" + p.socket,
			"-force-socket-overwrite",
			fmt.Sprintf("-disable-v1=%t", !p.servesV1),
		}
	default:
		// The flags of manifests/static-pod-token.yaml, with the paths and
		// ports of this test.
		args := []string{
			"-vault-address=" + p.bao.addr,
			"-auth-method=token",
			"-token-file=" + filepath.Join(p.dir, "token"),
			fmt.Sprintf("-health-port=127.0.0.1:%d", p.healthPort),
			"-socket=unix://" + p.socket,
		}
		if p.servesV1 {
			args = append(args, "-disable-v1=false")
		}
		if env.pluginHealthInterval != "" {
			args = append(args, "-health-check-interval="+env.pluginHealthInterval)
		}
		return env.pluginBin, args
	}
}

// start launches the plugin and waits until its socket accepts connections.
// The health port is chosen at each start, and a start that loses its port to
// another process on this shared machine is retried.
func (p *kmsPlugin) start() error {
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		if err = p.startOnce(); err == nil || !strings.Contains(err.Error(), "address already in use") {
			return err
		}
	}
	return err
}

func (p *kmsPlugin) startOnce() error {
	port, err := freePort()
	if err != nil {
		return err
	}
	p.healthPort = port
	bin, args := p.command()
	proc, err := startProcess(fmt.Sprintf("plugin #%d", p.starts), filepath.Join(p.dir, "plugin.log"), nil, bin, args...)
	if err != nil {
		return err
	}
	p.proc = proc
	p.starts++
	if err := waitFor("plugin socket", 60*time.Second, 100*time.Millisecond, func() error {
		if !proc.running() {
			return fmt.Errorf("plugin exited: %v", proc.waitErr)
		}
		conn, err := net.Dial("unix", p.socket)
		if err != nil {
			return err
		}
		conn.Close()
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/live", p.healthPort))
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}); err != nil {
		proc.kill()
		return fmt.Errorf("%w\nplugin log:\n%s", err, logTail(proc.logPath, 30))
	}
	return nil
}

func (p *kmsPlugin) stop() {
	if p != nil && p.proc != nil {
		p.proc.stop(10 * time.Second)
	}
}

// kill is a crash: SIGKILL, the socket file stays behind.
func (p *kmsPlugin) kill() { p.proc.kill() }
