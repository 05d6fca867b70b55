package controlplane

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// etcdServer is a real etcd, one member on loopback, data in a temp dir.
type etcdServer struct {
	url    string
	proc   *process
	client *clientv3.Client
}

func startEtcd(bin, dir string) (*etcdServer, error) {
	clientPort, err := freePort()
	if err != nil {
		return nil, err
	}
	peerPort, err := freePort()
	if err != nil {
		return nil, err
	}
	dataDir := filepath.Join(dir, "etcd-data")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	clientURL := fmt.Sprintf("http://127.0.0.1:%d", clientPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	proc, err := startProcess("etcd", filepath.Join(dir, "etcd.log"), nil, bin,
		"--name=cp", "--data-dir="+dataDir,
		"--listen-client-urls="+clientURL, "--advertise-client-urls="+clientURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=cp="+peerURL,
		"--listen-metrics-urls=", "--log-level=warn",
		// A test store: losing it on a power cut costs nothing, and fsync on a
		// shared disk would only add noise to the timings.
		"--unsafe-no-fsync")
	if err != nil {
		return nil, err
	}
	e := &etcdServer{url: clientURL, proc: proc}
	if err := waitFor("etcd healthy", 60*time.Second, 200*time.Millisecond, func() error {
		resp, err := http.Get(clientURL + "/health")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/health HTTP %d", resp.StatusCode)
		}
		return nil
	}); err != nil {
		proc.stop(5 * time.Second)
		return nil, fmt.Errorf("%w\n%s", err, logTail(proc.logPath, 20))
	}
	if e.client, err = clientv3.New(clientv3.Config{Endpoints: []string{clientURL}, DialTimeout: 10 * time.Second}); err != nil {
		proc.stop(5 * time.Second)
		return nil, err
	}
	return e, nil
}

// raw is the value etcd stores under key, as kube-apiserver wrote it.
func (e *etcdServer) raw(key string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := e.client.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	if len(resp.Kvs) == 0 {
		return nil, nil
	}
	return resp.Kvs[0].Value, nil
}

// rawPrefix is every key and value under prefix.
func (e *etcdServer) rawPrefix(prefix string) (map[string][]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp, err := e.client.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out[string(kv.Key)] = kv.Value
	}
	return out, nil
}

func (e *etcdServer) stop() {
	if e == nil {
		return
	}
	if e.client != nil {
		e.client.Close()
	}
	e.proc.stop(10 * time.Second)
}
