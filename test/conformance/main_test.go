package conformance

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Environment knobs (all optional).
const (
	// envPluginCmd replaces `node <repo>/dist/src/main.js` with another executable
	// taking the same flags (e.g. the packaged single binary). If the value is not an
	// existing file it is split on whitespace ("node /x/main.js").
	envPluginCmd = "KMS_PLUGIN_CMD"
	// envVaultCmd replaces `node <repo>/dist/test/support/proxied-openbao-cli.js`
	// (used to self-test the harness with the Go fakes under internal/fakes).
	envVaultCmd = "VAULT_SERVER_CMD"
	// envRepoRoot overrides the repository root (default: ../.. of this folder).
	envRepoRoot = "KMS_REPO_ROOT"
	// envKeepLogs keeps the subprocess logs directory even when all tests pass.
	envKeepLogs = "KMS_CONFORMANCE_KEEP_LOGS"
)

// vaultInfo is the single JSON line proxied OpenBao (test/support/proxied-openbao-cli.ts) prints on start.
type vaultInfo struct {
	URL       string `json:"url"`
	RootToken string `json:"rootToken"`
	KMSToken  string `json:"kmsToken"`
	RoleID    string `json:"roleId"`
	SecretID  string `json:"secretId"`
}

// env is the shared state of one test binary run.
var env struct {
	repoRoot   string
	workDir    string // temp dir: socket, logs, encryption configs
	socketPath string
	endpoint   string // unix://<socketPath>
	vault      vaultInfo
	vaultProc  *proc
	pluginProc *proc
}

// proc is one supervised subprocess.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	logFile *os.File
	done    chan struct{}
	waitErr error
	stopped bool
	mu      sync.Mutex
}

func (p *proc) exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.waitErr
	default:
		return false, nil
	}
}

// stop sends SIGTERM to the process group, then SIGKILL after a grace period.
func (p *proc) stop(grace time.Duration) {
	if p == nil || p.cmd == nil || p.cmd.Process == nil {
		return
	}
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	pid := p.cmd.Process.Pid
	if exited, _ := p.exited(); !exited {
		_ = syscall.Kill(-pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			select {
			case <-p.done:
			case <-time.After(5 * time.Second):
			}
		}
	}
	// Whatever the leader did, make sure nothing of its group survives.
	_ = syscall.Kill(-pid, syscall.SIGKILL)
}

// startProc starts argv with its own process group; the child is SIGKILLed by the
// kernel if this test binary dies without running its cleanup (Pdeathsig).
// stdout is returned as a reader when wantStdout is true, otherwise it goes to the log.
func startProc(name string, argv []string, wantStdout bool) (*proc, io.Reader, error) {
	logPath := filepath.Join(env.workDir, name+".log")
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(lf, "# %s\n", strings.Join(argv, " "))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = env.repoRoot
	cmd.Stderr = lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var stdout io.Reader
	if wantStdout {
		stdout, err = cmd.StdoutPipe()
		if err != nil {
			return nil, nil, err
		}
	} else {
		cmd.Stdout = lf
	}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, nil, fmt.Errorf("start %s (%s): %w", name, strings.Join(argv, " "), err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, logFile: lf, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, stdout, nil
}

func commandFromEnv(envName string, def []string) []string {
	v := strings.TrimSpace(os.Getenv(envName))
	if v == "" {
		return def
	}
	if st, err := os.Stat(v); err == nil && !st.IsDir() {
		return []string{v}
	}
	return strings.Fields(v)
}

func startVault() error {
	argv := commandFromEnv(envVaultCmd, []string{"node", filepath.Join(env.repoRoot, "dist/test/support/proxied-openbao-cli.js")})
	p, stdout, err := startProc("openbao", argv, true)
	if err != nil {
		return err
	}
	env.vaultProc = p
	type lineResult struct {
		line string
		err  error
	}
	ch := make(chan lineResult, 1)
	br := bufio.NewReader(stdout)
	go func() {
		line, err := br.ReadString('\n')
		ch <- lineResult{line, err}
		// Keep draining stdout into the log so the server never blocks on a full pipe.
		_, _ = io.Copy(p.logFile, br)
	}()
	select {
	case r := <-ch:
		fmt.Fprintf(p.logFile, "# first stdout line: %s", r.line)
		if r.err != nil && r.line == "" {
			return fmt.Errorf("proxied OpenBao printed no JSON line (%v); log %s:\n%s", r.err, p.logPath, tail(p.logPath, 40))
		}
		if err := json.Unmarshal([]byte(strings.TrimSpace(r.line)), &env.vault); err != nil {
			return fmt.Errorf("proxied OpenBao first stdout line is not the documented JSON object: %q: %v", r.line, err)
		}
		if env.vault.URL == "" || env.vault.KMSToken == "" || env.vault.RootToken == "" {
			return fmt.Errorf("proxied OpenBao JSON line lacks url/kmsToken/rootToken: %q", r.line)
		}
	case <-time.After(60 * time.Second):
		return fmt.Errorf("proxied OpenBao printed nothing within 60s; log %s:\n%s", p.logPath, tail(p.logPath, 40))
	}
	// Ready check: the control API must answer.
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(env.vault.URL + "/_test/stats")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("proxied OpenBao at %s not answering GET /_test/stats: %v", env.vault.URL, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func startPlugin() error {
	argv := commandFromEnv(envPluginCmd, []string{"node", filepath.Join(env.repoRoot, "dist/src/main.js")})
	argv = append(argv,
		"-vault-address="+env.vault.URL,
		"-auth-method=token",
		"-token="+env.vault.KMSToken,
		"-socket="+env.endpoint,
		"-health-port=127.0.0.1:0",
		"-disable-v1=false",
	)
	p, _, err := startProc("plugin", argv, false)
	if err != nil {
		return err
	}
	env.pluginProc = p
	deadline := time.Now().Add(60 * time.Second)
	for {
		if st, err := os.Stat(env.socketPath); err == nil && st.Mode()&os.ModeSocket != 0 {
			return nil
		}
		if exited, werr := p.exited(); exited {
			return fmt.Errorf("plugin exited before creating its socket (%v); log %s:\n%s", werr, p.logPath, tail(p.logPath, 60))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("plugin did not create socket %s within 60s; log %s:\n%s", env.socketPath, p.logPath, tail(p.logPath, 60))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

var stopOnce sync.Once

func stopAll() {
	stopOnce.Do(func() {
		// Plugin first (it depends on Vault), then Vault.
		env.pluginProc.stop(5 * time.Second)
		env.vaultProc.stop(5 * time.Second)
	})
}

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runMain(m))
}

func runMain(m *testing.M) (code int) {
	start := time.Now()
	// Every test here drives a real plugin process; with -short nothing would run, and exit 0 would read as a pass.
	if testing.Short() {
		fmt.Fprintln(os.Stderr, "conformance: -short given, but every conformance test starts the plugin: nothing would run; drop -short")
		return 1
	}
	root := os.Getenv(envRepoRoot)
	if root == "" {
		root = filepath.Join("..", "..")
	}
	var err error
	if env.repoRoot, err = filepath.Abs(root); err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		return 1
	}
	// Short path: unix socket paths are limited to 107 bytes.
	if env.workDir, err = os.MkdirTemp("", "kmsconf-"); err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		return 1
	}
	env.socketPath = filepath.Join(env.workDir, "vaultkms.socket")
	env.endpoint = "unix://" + env.socketPath

	// Always clean up, even on panic or signal.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "conformance: got %v, stopping plugin and proxied OpenBao\n", s)
		stopAll()
		os.Exit(2)
	}()
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(os.Stderr, "conformance: panic: %v\n", r)
			code = 1
		}
		stopAll()
		for _, p := range []*proc{env.pluginProc, env.vaultProc} {
			if p != nil && p.logFile != nil {
				p.logFile.Close()
			}
		}
		if code != 0 {
			for _, p := range []*proc{env.vaultProc, env.pluginProc} {
				if p != nil {
					fmt.Printf("\n===== last lines of %s log (%s) =====\n%s\n", p.name, p.logPath, tail(p.logPath, 40))
				}
			}
			fmt.Printf("conformance: logs kept in %s\n", env.workDir)
		} else if os.Getenv(envKeepLogs) != "" {
			fmt.Printf("conformance: logs kept in %s\n", env.workDir)
		} else {
			_ = os.RemoveAll(env.workDir)
		}
		fmt.Printf("conformance: total wall time %s\n", time.Since(start).Round(100*time.Millisecond))
	}()

	if err := checkPrereqs(); err != nil {
		fmt.Fprintln(os.Stderr, "conformance: FAIL:", err)
		return 1
	}
	if err := startVault(); err != nil {
		fmt.Fprintln(os.Stderr, "conformance: FAIL: starting proxied OpenBao:", err)
		return 1
	}
	fmt.Printf("conformance: proxied OpenBao at %s (pid %d)\n", env.vault.URL, env.vaultProc.cmd.Process.Pid)
	if err := startPlugin(); err != nil {
		fmt.Fprintln(os.Stderr, "conformance: FAIL: starting plugin:", err)
		return 1
	}
	fmt.Printf("conformance: plugin serving on %s (pid %d), started in %s\n", env.endpoint, env.pluginProc.cmd.Process.Pid, time.Since(start).Round(time.Millisecond))
	code = m.Run()
	if exited, werr := env.pluginProc.exited(); exited {
		fmt.Fprintf(os.Stderr, "conformance: FAIL: plugin process exited during the run: %v\n", werr)
		code = 1
	}
	return code
}

func checkPrereqs() error {
	var missing []string
	if os.Getenv(envPluginCmd) == "" || os.Getenv(envVaultCmd) == "" {
		if _, err := exec.LookPath("node"); err != nil {
			missing = append(missing, "`node` not found in PATH")
		}
	}
	if os.Getenv(envPluginCmd) == "" {
		if _, err := os.Stat(filepath.Join(env.repoRoot, "dist/src/main.js")); err != nil {
			missing = append(missing, "dist/src/main.js missing (run `npm run build` in "+env.repoRoot+")")
		}
	}
	if os.Getenv(envVaultCmd) == "" {
		if _, err := os.Stat(filepath.Join(env.repoRoot, "dist/test/support/proxied-openbao-cli.js")); err != nil {
			missing = append(missing, "dist/test/support/proxied-openbao-cli.js missing (run `npm run build` in "+env.repoRoot+")")
		}
	}
	if len(missing) > 0 {
		return errors.New(strings.Join(missing, "; "))
	}
	return nil
}

// vaultRequest calls proxied OpenBao (test/support/proxied-openbao-cli.ts). token may be empty (control API).
func vaultRequest(method, path, token string) ([]byte, error) {
	req, err := http.NewRequest(method, env.vault.URL+path, nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return body, fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, bytes.TrimSpace(body))
	}
	return body, nil
}

// pluginAlive fails the test immediately if the plugin process died.
func pluginAlive(t testing.TB) {
	t.Helper()
	if exited, werr := env.pluginProc.exited(); exited {
		t.Fatalf("plugin process exited (%v); last log lines:\n%s", werr, tail(env.pluginProc.logPath, 40))
	}
}
