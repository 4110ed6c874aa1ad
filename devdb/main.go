// Command devdb serves an embedded FerretDB (SQLite backend) on a TCP address,
// so development and tests talk to a real MongoDB-wire server with the same
// driver as production.
//
// One data folder, one server: devdb holds an exclusive lock on DATA/devdb.lock
// for as long as it runs (the kernel drops it even on kill -9), and a second
// devdb on the same folder refuses to start. Once it accepts connections it
// writes its URI to DATA/uri, so command-line tools reach the running server
// instead of starting another. With -exit-with-parent it stops when its
// standard input closes: the process that started it holds the other end, so
// when that process dies, even by kill -9, devdb does not outlive it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

const exitFolderInUse = 3

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on (host:port)")
	dataDir := flag.String("data", "./var/devdb", "directory holding the SQLite database files")
	logLevel := flag.String("log-level", "error", "FerretDB log level: debug, info, warn or error")
	exitWithParent := flag.Bool("exit-with-parent", false, "stop when standard input closes")
	flag.Parse()

	if err := run(*listen, *dataDir, *logLevel, *exitWithParent); err != nil {
		var inUse folderInUse
		if errors.As(err, &inUse) {
			fmt.Fprintln(os.Stderr, "devdb:", err)
			os.Exit(exitFolderInUse)
		}
		log.Fatalf("devdb: %v", err)
	}
}

type folderInUse struct {
	dir string
	pid string
}

func (e folderInUse) Error() string {
	return fmt.Sprintf("the data folder %s is in use by another devdb (pid %s); "+
		"stop that one, or use another DATA_DIR", e.dir, e.pid)
}

// lockFolder takes the folder's lock for the life of the process, or says who holds it.
func lockFolder(dir string) (*os.File, error) {
	file, err := os.OpenFile(filepath.Join(dir, "devdb.lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err = syscall.Flock(int(file.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := io.ReadAll(file)
		file.Close()
		return nil, folderInUse{dir: dir, pid: strings.TrimSpace(string(holder))}
	}
	if err = file.Truncate(0); err == nil {
		_, err = file.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return file, err
}

// publishURI writes the URI atomically, so a reader never sees half of it.
func publishURI(dir, listen string) error {
	partial := filepath.Join(dir, "uri.partial")
	if err := os.WriteFile(partial, []byte("mongodb://"+listen+"/\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(partial, filepath.Join(dir, "uri"))
}

func run(listen, dataDir, logLevel string, exitWithParent bool) error {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return err
	}
	if err = os.MkdirAll(abs, 0o755); err != nil {
		return err
	}
	lock, err := lockFolder(abs)
	if err != nil {
		return err
	}
	defer lock.Close()

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: listen},
		Handler:   "sqlite",
		SQLiteURL: "file:" + abs + "/",
		Logger:    newLogger(logLevel),
	})
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if exitWithParent {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin) // returns when the parent's end closes
			stop()
		}()
	}

	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()

	if err = waitListening(ctx, listen, done); err != nil {
		return err
	}
	if err = publishURI(abs, listen); err != nil {
		return err
	}
	defer os.Remove(filepath.Join(abs, "uri"))
	// The one line scripts wait for: the server accepts connections now.
	fmt.Printf("devdb ready on %s data=%s\n", listen, abs)

	err = <-done
	if err == nil || errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// waitListening polls the TCP address until it accepts a connection, so the
// ready line is printed only when clients can really connect.
func waitListening(ctx context.Context, addr string, done <-chan error) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			return fmt.Errorf("server stopped before it was ready: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			conn.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not listening on %s after 30s", addr)
}

// newLogger keeps FerretDB's own logging on stderr at the chosen level, so the
// ready line stays the only thing on stdout.
func newLogger(level string) *slog.Logger {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		lvl = slog.LevelError
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
}
