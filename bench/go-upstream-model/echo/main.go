// Command echo is a reference for the benchmark, not a model of anything: a
// grpc-go KMS v2 server (grpc.NewServer(), no options) whose Status answers a
// constant from memory. It measures what one gRPC round trip over a unix
// socket costs on the machine, without any Vault work.
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"google.golang.org/grpc"
	kmsv2 "k8s.io/kms/apis/v2"
)

type server struct {
	kmsv2.UnimplementedKeyManagementServiceServer
}

func (server) Status(context.Context, *kmsv2.StatusRequest) (*kmsv2.StatusResponse, error) {
	return &kmsv2.StatusResponse{Version: "v2", Healthz: "ok", KeyId: "1"}, nil
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: echo <socket path>")
		os.Exit(2)
	}
	l, err := net.Listen("unix", os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	s := grpc.NewServer()
	kmsv2.RegisterKeyManagementServiceServer(s, server{})
	go func() {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
		<-ch
		s.Stop()
	}()
	_ = s.Serve(l)
}
