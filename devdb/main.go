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
//
// FerretDB v1.24 finds a document by _id with `WHERE _ferretdb_sjson->'$._id' = ?`,
// but the unique index it creates on every collection table is on
// `_ferretdb_sjson->"_id"`: SQLite uses an expression index only for an identical
// expression, so every _id lookup, update and delete read the whole table. devdb adds, in each
// collection table, an index on exactly the expression the queries use (see
// ensureIDIndexes): once for every existing table before FerretDB starts, then
// for new tables by watching the database files while it runs.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	_ "modernc.org/sqlite" // the database/sql driver FerretDB itself uses
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

	logger := newLogger(logLevel)
	// Existing collections get their _id index before FerretDB opens the files.
	indexIDsOnce(context.Background(), abs, map[string]fileStamp{}, logger)

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: listen},
		Handler:   "sqlite",
		SQLiteURL: "file:" + abs + "/",
		Logger:    logger,
	})
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	// New collections get theirs within one watch interval of being created.
	var watcher sync.WaitGroup
	watcher.Add(1)
	go func() {
		defer watcher.Done()
		watchIDIndexes(ctx, abs, idIndexWatchInterval, logger)
	}()
	defer func() { stop(); watcher.Wait() }() // no index creation is cut short at exit
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

// idIndexWatchInterval is how often devdb looks for collections without the _id index.
// Until a new collection has it, lookups in it read the whole (still small) table.
const idIndexWatchInterval = 100 * time.Millisecond

// idIndexPrefix starts the name of devdb's own index in each collection table. FerretDB
// names its indexes "<table>_<index name>", and none of its table names starts with
// "_ferretdb_" (it refuses collection names with that prefix), so the two never clash.
// FerretDB keeps its index list in _ferretdb_collections.settings: it never lists,
// counts or drops this index, and dropping the collection's table drops it too.
const idIndexPrefix = "_ferretdb_devdb_id_"

// idIndexExpression is, to the character, the expression FerretDB v1.24's SQLite
// backend compares with the sjson-encoded _id (metadata.IDColumn, used by Query,
// Explain, UpdateOne and DeleteAll); SQLite uses an index only for the identical expression.
const idIndexExpression = `_ferretdb_sjson->'$._id'`

// fileStamp tells whether a database file or its write-ahead log changed.
type fileStamp struct {
	dbSize, dbTime, walSize, walTime int64
}

func stampOf(file string) (fileStamp, bool) {
	var s fileStamp
	db, err := os.Stat(file)
	if err != nil {
		return s, false
	}
	s.dbSize, s.dbTime = db.Size(), db.ModTime().UnixNano()
	if wal, err := os.Stat(file + "-wal"); err == nil {
		s.walSize, s.walTime = wal.Size(), wal.ModTime().UnixNano()
	}
	return s, true
}

// watchIDIndexes checks, every interval, each database file that changed since it was
// last checked, until ctx is done.
func watchIDIndexes(ctx context.Context, dir string, interval time.Duration, l *slog.Logger) {
	seen := map[string]fileStamp{}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			indexIDsOnce(ctx, dir, seen, l)
		}
	}
}

// indexIDsOnce runs ensureIDIndexes on every database file in dir whose stamp differs
// from the one in seen, and records the stamps of the files it found complete.
func indexIDsOnce(ctx context.Context, dir string, seen map[string]fileStamp, l *slog.Logger) {
	files, _ := filepath.Glob(filepath.Join(dir, "*.sqlite")) // FerretDB's own pattern
	present := make(map[string]bool, len(files))
	for _, file := range files {
		present[file] = true
		stamp, ok := stampOf(file)
		if !ok || seen[file] == stamp {
			continue
		}
		created, err := ensureIDIndexes(ctx, file)
		if err != nil {
			// A file dropped meanwhile needs nothing; anything else is retried next time.
			if _, gone := os.Stat(file); gone == nil && ctx.Err() == nil {
				l.Warn("devdb: _id index check failed; will retry", "file", file, "error", err)
			}
			continue
		}
		if created > 0 {
			l.Info("devdb: created _id lookup indexes", "file", file, "count", created)
		}
		seen[file] = stamp
	}
	for file := range seen {
		if !present[file] {
			delete(seen, file)
		}
	}
}

// quoteIdent quotes an SQLite identifier.
func quoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// ensureIDIndexes creates, in one database file, the _id lookup index of every
// collection table that lacks it, and says how many it created.
//
// It opens its own short-lived connection. mode=rw never creates a file (a database
// dropped meanwhile stays dropped). If FerretDB drops the database while this connection
// is open, SQLite leaves that file's -wal and -shm behind instead of checkpointing into
// a removed file; it deletes such a stale log when a database of the same name is
// created again (an empty database file never replays a log), so nothing comes back.
func ensureIDIndexes(ctx context.Context, file string) (int, error) {
	dsn := "file:" + (&url.URL{Path: file}).EscapedPath() +
		"?mode=rw&_txlock=immediate&_pragma=busy_timeout(10000)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)

	missing, err := tablesWithoutIDIndex(ctx, db)
	if err != nil || len(missing) == 0 {
		return 0, err
	}

	// BEGIN IMMEDIATE: wait for FerretDB's writers (busy_timeout), then look again under
	// the write lock, since a collection may have been dropped in between.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit

	if missing, err = tablesWithoutIDIndex(ctx, tx); err != nil {
		return 0, err
	}
	for _, table := range missing {
		q := fmt.Sprintf("CREATE INDEX IF NOT EXISTS %s ON %s (%s)",
			quoteIdent(idIndexPrefix+table), quoteIdent(table), idIndexExpression)
		if _, err = tx.ExecContext(ctx, q); err != nil {
			return 0, fmt.Errorf("%s: %w", table, err)
		}
	}
	if err = tx.Commit(); err != nil {
		return 0, err
	}
	return len(missing), nil
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// tablesWithoutIDIndex lists the collection tables of a FerretDB database file that
// exist but lack devdb's _id index. A file FerretDB has not set up yet has none.
func tablesWithoutIDIndex(ctx context.Context, db querier) ([]string, error) {
	rows, err := db.QueryContext(ctx, `
		SELECT c.table_name
		FROM sqlite_master AS meta
		JOIN _ferretdb_collections AS c ON meta.type = 'table' AND meta.name = c.table_name
		WHERE NOT EXISTS (
			SELECT 1 FROM sqlite_master AS ix
			WHERE ix.type = 'index' AND ix.name = ? || c.table_name)`, idIndexPrefix)
	if err != nil {
		if strings.Contains(err.Error(), "no such table: _ferretdb_collections") {
			return nil, nil
		}
		return nil, err
	}
	defer rows.Close()
	var tables []string
	for rows.Next() {
		var table string
		if err = rows.Scan(&table); err != nil {
			return nil, err
		}
		tables = append(tables, table)
	}
	return tables, rows.Err()
}
