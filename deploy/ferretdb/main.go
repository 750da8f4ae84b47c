// Command huiyin-ferretdb runs FerretDB v1 (MongoDB wire protocol, SQLite backend)
// through its embeddable package. The upstream binary built with `go install`
// panics at start on a missing generated version file; the embedded path does not.
//
// FerretDB v1 applies an update as a query followed by a separate write, so two
// concurrent updates of one document can both read the old value and one is lost
// ($inc, or a version-guarded findAndModify, both break). MongoDB guarantees
// single-document atomicity and Huiyin relies on it. So FerretDB listens on a
// private Unix socket, and the public TCP port is a small wire-protocol relay that
// lets only one insert/update/delete/findAndModify per collection run at a time.
// Reads and writes to different collections still run concurrently.
//
// With the SQLite backend, FerretDB pushes a filter on `_id` alone down to SQL as
// `_ferretdb_sjson->'$._id' = ?`, but creates its `_id` index on a different
// expression (`->"_id"`), so SQLite never uses it and every lookup by `_id` scans
// the table. An index keeper adds the matching expression index to every collection
// table, which turns those lookups into index searches.
package main

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	_ "modernc.org/sqlite" // the driver FerretDB itself uses
)

const (
	opMsg         = 2013
	moreToCome    = 1 << 1
	checksumFlag  = 1 << 0
	maxMessageLen = 48 << 20
)

var writeCommands = map[string]bool{
	"insert": true, "update": true, "delete": true,
	"findAndModify": true, "findandmodify": true,
}

type collectionLocks struct{ m sync.Map }

func (l *collectionLocks) get(ns string) *sync.Mutex {
	mu, _ := l.m.LoadOrStore(ns, &sync.Mutex{})
	return mu.(*sync.Mutex)
}

func main() {
	listen := flag.String("listen-addr", "127.0.0.1:27017", "TCP address to listen on")
	dir := flag.String("sqlite-dir", "./data", "directory for SQLite database files (and the socket)")
	sync := flag.String("sqlite-synchronous", "normal",
		"SQLite synchronous mode: normal (WAL, like MongoDB's 100 ms journal commit) or full")
	pgURL := flag.String("postgresql-url", "", "use the PostgreSQL backend at this URL instead of SQLite")
	flag.Parse()

	if err := os.MkdirAll(*dir, 0o755); err != nil {
		log.Fatalf("create data directory: %v", err)
	}
	socket := filepath.Join(*dir, "ferretdb.sock")
	_ = os.Remove(socket)

	config := &ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{Unix: socket},
		Handler:   "sqlite",
		SQLiteURL: "file:" + *dir + "/?_pragma=synchronous(" + *sync + ")",
	}
	if *pgURL != "" {
		config.Handler, config.PostgreSQLURL = "postgresql", *pgURL
	}
	f, err := ferretdb.New(config)
	if err != nil {
		log.Fatalf("configure ferretdb: %v", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("listen on %s: %v", *listen, err)
	}
	go func() {
		<-ctx.Done()
		ln.Close()
	}()

	if *pgURL == "" {
		go keepIDIndexes(ctx, *dir)
	}

	locks := &collectionLocks{}
	log.Printf("ferretdb listening on %s, data in %s", *listen, *dir)
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			go relay(client, socket, locks)
		}
	}()

	if err := <-done; err != nil && ctx.Err() == nil {
		log.Fatalf("ferretdb stopped: %v", err)
	}
}

// relay forwards one client connection, one request and its reply at a time, as
// MongoDB drivers use a connection.
func relay(client net.Conn, socket string, locks *collectionLocks) {
	defer client.Close()
	backend, err := net.Dial("unix", socket)
	if err != nil {
		log.Printf("connect to ferretdb: %v", err)
		return
	}
	defer backend.Close()

	for {
		request, err := readMessage(client)
		if err != nil {
			return
		}
		var mu *sync.Mutex
		if ns, ok := writeNamespace(request); ok {
			mu = locks.get(ns)
			mu.Lock()
		}
		err = exchange(client, backend, request)
		if mu != nil {
			mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

func exchange(client, backend net.Conn, request []byte) error {
	if _, err := backend.Write(request); err != nil {
		return err
	}
	if opCode(request) == opMsg && flags(request)&moreToCome != 0 {
		return nil // fire-and-forget write: no reply
	}
	for {
		reply, err := readMessage(backend)
		if err != nil {
			return err
		}
		if _, err := client.Write(reply); err != nil {
			return err
		}
		if opCode(reply) != opMsg || flags(reply)&moreToCome == 0 {
			return nil
		}
	}
}

func readMessage(r io.Reader) ([]byte, error) {
	var header [16]byte
	if _, err := io.ReadFull(r, header[:]); err != nil {
		return nil, err
	}
	length := int(binary.LittleEndian.Uint32(header[0:4]))
	if length < 16 || length > maxMessageLen {
		return nil, errors.New("bad message length")
	}
	message := make([]byte, length)
	copy(message, header[:])
	if _, err := io.ReadFull(r, message[16:]); err != nil {
		return nil, err
	}
	return message, nil
}

func opCode(m []byte) int32 { return int32(binary.LittleEndian.Uint32(m[12:16])) }

func flags(m []byte) uint32 {
	if len(m) < 20 {
		return 0
	}
	return binary.LittleEndian.Uint32(m[16:20])
}

// writeNamespace returns "db.collection" when the OP_MSG body is a write command.
func writeNamespace(m []byte) (string, bool) {
	if opCode(m) != opMsg || len(m) < 26 || m[20] != 0 {
		return "", false // only a body section (kind 0) first is a command
	}
	end := len(m)
	if flags(m)&checksumFlag != 0 {
		end -= 4
	}
	doc := m[21:end]
	if len(doc) < 5 {
		return "", false
	}
	size := int(binary.LittleEndian.Uint32(doc[0:4]))
	if size > len(doc) || size < 5 {
		return "", false
	}
	doc = doc[4 : size-1]
	command, collection, db := "", "", ""
	for first := true; len(doc) > 0; first = false {
		kind := doc[0]
		name, rest, ok := cstring(doc[1:])
		if !ok {
			return "", false
		}
		value, n, ok := elementValue(kind, rest)
		if !ok {
			return "", false
		}
		if first {
			command, collection = name, value
			if !writeCommands[command] {
				return "", false
			}
		}
		if name == "$db" {
			db = value
		}
		doc = rest[n:]
	}
	return db + "." + collection, command != ""
}

func cstring(b []byte) (string, []byte, bool) {
	for i, c := range b {
		if c == 0 {
			return string(b[:i]), b[i+1:], true
		}
	}
	return "", nil, false
}

// elementValue returns a string value (for strings) and the element's size in bytes.
func elementValue(kind byte, b []byte) (string, int, bool) {
	fixed := map[byte]int{0x01: 8, 0x07: 12, 0x08: 1, 0x09: 8, 0x0A: 0, 0x10: 4, 0x11: 8,
		0x12: 8, 0x13: 16, 0x7F: 0, 0xFF: 0}
	if n, ok := fixed[kind]; ok {
		return "", n, len(b) >= n
	}
	if len(b) < 4 {
		return "", 0, false
	}
	n := int(binary.LittleEndian.Uint32(b[0:4]))
	switch kind {
	case 0x02, 0x0D, 0x0E: // string, JavaScript, symbol: int32 length + bytes (with NUL)
		if n < 1 || 4+n > len(b) {
			return "", 0, false
		}
		return string(b[4 : 4+n-1]), 4 + n, true
	case 0x03, 0x04, 0x0F: // document, array, code with scope: int32 total length
		return "", n, n >= 5 && n <= len(b)
	case 0x05: // binary: int32 length + subtype + bytes
		return "", 4 + 1 + n, 5+n <= len(b)
	case 0x0B: // regex: two cstrings
		_, rest, ok := cstring(b)
		if !ok {
			return "", 0, false
		}
		_, rest2, ok := cstring(rest)
		return "", len(b) - len(rest2), ok
	case 0x0C: // DBPointer: string + 12 bytes
		return "", 4 + n + 12, 4+n+12 <= len(b)
	}
	return "", 0, false
}

// keepIDIndexes adds the `_id` expression index FerretDB's queries can use to every
// collection table of every database file, twice a second.
func keepIDIndexes(ctx context.Context, dir string) {
	ticker := time.NewTicker(500 * time.Millisecond)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		files, _ := filepath.Glob(filepath.Join(dir, "*.sqlite"))
		for _, file := range files {
			indexTables(ctx, file)
		}
	}
}

func indexTables(ctx context.Context, file string) {
	db, err := sql.Open("sqlite", "file:"+file+"?_pragma=busy_timeout(5000)")
	if err != nil {
		return
	}
	defer db.Close()
	// Tables of this file's collections that lack our index (a dropped and recreated
	// collection gets a new table).
	rows, err := db.QueryContext(ctx, `SELECT table_name FROM _ferretdb_collections
		WHERE table_name || '_huiyin_id' NOT IN (SELECT name FROM sqlite_master WHERE type = 'index')`)
	if err != nil {
		return // a new database without collections yet
	}
	var tables []string
	for rows.Next() {
		var table string
		if rows.Scan(&table) == nil {
			tables = append(tables, table)
		}
	}
	rows.Close()
	for _, table := range tables {
		stmt := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS "%s_huiyin_id" ON "%s" (_ferretdb_sjson->'$._id')`,
			table, table)
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			log.Printf("index %s in %s: %v", table, file, err)
		}
	}
}
