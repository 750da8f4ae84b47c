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
//
// Third, one request could hang a whole database until FerretDB restarts. Its
// `update` opens a query per statement and closes them only when the command ends
// (msg_update.go: `defer closer.Close()` inside the loop), and each statement's write
// needs one more pooled SQLite connection; the pool has 100 per database
// (SetMaxOpenConns(100) in pool/opendb.go). An update of 100 statements, or several
// concurrent ones adding up to that, waits for a connection it holds itself, and
// every later request on that database waits behind it. The same command reports a
// write error at index 0 without counts, ignores `ordered`, and numbers upserts by
// rank instead of statement. So the relay runs a multi-statement update as one
// sub-command per statement, in order, and merges the replies into MongoDB's (n,
// nModified, upserted and writeErrors at their statement's index; ordered stops at
// the first error): a statement holds at most two connections. delete and
// findAndModify close their query before writing (msg_delete.go) and pass as they
// are. What can hold a connection while waiting for another, or for as long as a
// client likes, is bounded per database, together well under the pool's 100:
// writes in flight (32) and open cursors (48; a find or aggregate whose result
// outlasts its first batch keeps its query open until the cursor is exhausted,
// killed or its connection closes). A command that would open a cursor beyond that
// waits up to 5 s, then fails as MaxTimeMSExpired rather than risk the pool.
// Prevention is the only cure: a stuck command is not freed when its client
// disconnects (FerretDB notices a closed connection only between commands).
//
// Last, FerretDB refuses to start while its directory holds a .sqlite file without its
// metadata table (a database killed between creating its file and that table). The
// index keeper opens files read-write only, never creating one, and at start such
// files, which hold no collection, are set aside under another name.
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
	"sync/atomic"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"go.mongodb.org/mongo-driver/x/bsonx/bsoncore"
	_ "modernc.org/sqlite" // the driver FerretDB itself uses
)

const (
	opMsg         = 2013
	moreToCome    = 1 << 1
	checksumFlag  = 1 << 0
	maxMessageLen = 48 << 20

	// Per database, under FerretDB's 100 pooled SQLite connections: a write holds one
	// connection and may wait for a second; an open cursor holds one.
	writeSlotsPerDatabase  = 32
	cursorSlotsPerDatabase = 48
	cursorWait             = 5 * time.Second
	maxTimeMSExpired       = 50 // what drivers treat as a timed-out operation
)

var writeCommands = map[string]bool{
	"insert": true, "update": true, "delete": true,
	"findAndModify": true, "findandmodify": true,
}

// Commands whose reply may leave a cursor (and its SQLite connection) open.
var cursorCommands = map[string]bool{
	"find": true, "aggregate": true, "listCollections": true, "listIndexes": true,
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
	setAsideUninitialised(*dir)

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

	g := newGuard()
	log.Printf("ferretdb listening on %s, data in %s", *listen, *dir)
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			go relay(client, socket, g)
		}
	}()

	if err := <-done; err != nil && ctx.Err() == nil {
		log.Fatalf("ferretdb stopped: %v", err)
	}
}

// --- what the relay bounds --------------------------------------------------------------

// guard holds what all connections share: one write at a time per collection, and the
// per-database budgets of writes in flight and open cursors.
type guard struct {
	collections sync.Map // "db.collection" → *sync.Mutex
	databases   sync.Map // db → *databaseBudget

	mu      sync.Mutex
	cursors map[int64]*openCursor
}

type databaseBudget struct {
	writes  chan struct{}
	cursors chan struct{}
}

type openCursor struct {
	db    string
	owner *session
}

func newGuard() *guard { return &guard{cursors: map[int64]*openCursor{}} }

func (g *guard) collectionLock(ns string) *sync.Mutex {
	mu, _ := g.collections.LoadOrStore(ns, &sync.Mutex{})
	return mu.(*sync.Mutex)
}

func (g *guard) budget(db string) *databaseBudget {
	if b, ok := g.databases.Load(db); ok {
		return b.(*databaseBudget)
	}
	b, _ := g.databases.LoadOrStore(db, &databaseBudget{
		writes:  make(chan struct{}, writeSlotsPerDatabase),
		cursors: make(chan struct{}, cursorSlotsPerDatabase),
	})
	return b.(*databaseBudget)
}

// track keeps the cursor slot taken for a command whose reply left cursor `id` open.
func (g *guard) track(id int64, db string, owner *session) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.cursors[id] = &openCursor{db: db, owner: owner}
	owner.cursors[id] = true
}

// release gives back the slot of a cursor that is exhausted, killed or gone.
func (g *guard) release(id int64) {
	g.mu.Lock()
	c, ok := g.cursors[id]
	if ok {
		delete(g.cursors, id)
		delete(c.owner.cursors, id)
	}
	g.mu.Unlock()
	if ok {
		<-g.budget(c.db).cursors
	}
}

// releaseAll gives back the cursors a closed connection opened: FerretDB closes them
// with the connection.
func (g *guard) releaseAll(owner *session) {
	g.mu.Lock()
	ids := make([]int64, 0, len(owner.cursors))
	for id := range owner.cursors {
		ids = append(ids, id)
	}
	g.mu.Unlock()
	for _, id := range ids {
		g.release(id)
	}
}

// --- one client connection --------------------------------------------------------------

type session struct {
	client, backend net.Conn
	guard           *guard
	cursors         map[int64]bool
}

var requestIDs atomic.Int32

func nextRequestID() int32 { return requestIDs.Add(1) }

// relay forwards one client connection, one request and its reply at a time, as
// MongoDB drivers use a connection.
func relay(client net.Conn, socket string, g *guard) {
	defer client.Close()
	backend, err := net.Dial("unix", socket)
	if err != nil {
		log.Printf("connect to ferretdb: %v", err)
		return
	}
	s := &session{client: client, backend: backend, guard: g, cursors: map[int64]bool{}}
	defer func() {
		backend.Close()
		g.releaseAll(s)
	}()

	for {
		request, err := readMessage(client)
		if err != nil {
			return
		}
		if err := s.handle(request); err != nil {
			return
		}
	}
}

func (s *session) handle(request []byte) error {
	msg, ok := parseOpMsg(request)
	if !ok {
		_, err := s.exchange(request)
		return err
	}
	name, collection, db := describe(msg)
	switch {
	case writeCommands[name]:
		mu := s.guard.collectionLock(db + "." + collection)
		mu.Lock()
		defer mu.Unlock()
		budget := s.guard.budget(db)
		budget.writes <- struct{}{}
		defer func() { <-budget.writes }()
		if name == "update" {
			return s.update(request, msg)
		}
		_, err := s.exchange(request)
		return err
	case cursorCommands[name]:
		return s.openCursor(request, msg, db)
	case name == "getMore":
		id, _ := msg.body.Index(0).Value().AsInt64OK()
		reply, err := s.exchange(request)
		if reply == nil || !replyOK(reply) || cursorID(reply) == 0 {
			s.guard.release(id)
		}
		return err
	case name == "killCursors":
		reply, err := s.exchange(request)
		if ids, ok := msg.body.Lookup("cursors").ArrayOK(); ok && reply != nil {
			values, _ := ids.Values()
			for _, v := range values {
				if id, ok := v.AsInt64OK(); ok {
					s.guard.release(id)
				}
			}
		}
		return err
	}
	_, err := s.exchange(request)
	return err
}

func (s *session) openCursor(request []byte, msg *opMessage, db string) error {
	budget := s.guard.budget(db)
	timer := time.NewTimer(cursorWait)
	defer timer.Stop()
	select {
	case budget.cursors <- struct{}{}:
	case <-timer.C:
		log.Printf("refused a cursor on database %s: %d already open", db, cursorSlotsPerDatabase)
		refusal := errorReply(msg.requestID, maxTimeMSExpired, "MaxTimeMSExpired", fmt.Sprintf(
			"huiyin-ferretdb: %d cursors already open on database %s; close or exhaust cursors, "+
				"then retry", cursorSlotsPerDatabase, db))
		_, err := s.client.Write(refusal)
		return err
	}
	reply, err := s.exchange(request)
	if id := cursorID(reply); id != 0 && replyOK(reply) {
		s.guard.track(id, db, s)
	} else {
		<-budget.cursors
	}
	return err
}

// exchange forwards a request and every reply to it; it returns the last reply read
// from FerretDB (nil for a request that expects none), even if the client is gone.
func (s *session) exchange(request []byte) ([]byte, error) {
	if _, err := s.backend.Write(request); err != nil {
		return nil, err
	}
	if opCode(request) == opMsg && flags(request)&moreToCome != 0 {
		return nil, nil // fire-and-forget write: no reply
	}
	for {
		reply, err := readMessage(s.backend)
		if err != nil {
			return nil, err
		}
		if _, err := s.client.Write(reply); err != nil {
			return reply, err
		}
		if opCode(reply) != opMsg || flags(reply)&moreToCome == 0 {
			return reply, nil
		}
	}
}

// --- update, one statement at a time ----------------------------------------------------

// update runs each statement of an update command as its own command, in order, and
// answers the client once, as MongoDB would have for the whole command.
func (s *session) update(request []byte, msg *opMessage) error {
	statements, common := splitStatements(msg, "updates")
	if len(statements) == 0 { // FerretDB's own error for an empty batch
		_, err := s.exchange(request)
		return err
	}
	ordered := true
	if v, ok := msg.body.Lookup("ordered").BooleanOK(); ok {
		ordered = v
	}
	var n, modified int32
	var upserted, writeErrors []bsoncore.Document
	for i, statement := range statements {
		sub := &opMessage{body: common, sequences: []section{{"updates", []bsoncore.Document{statement}}}}
		if _, err := s.backend.Write(sub.encode(nextRequestID(), 0)); err != nil {
			return err
		}
		raw, err := readMessage(s.backend)
		if err != nil {
			return err
		}
		reply, ok := parseOpMsg(raw)
		if !ok {
			return errors.New("unreadable reply from ferretdb")
		}
		if !replyOK(raw) {
			if i == 0 { // a command-level error (e.g. a bad namespace): the command's answer
				return s.answer(msg, reply.body)
			}
			writeErrors = append(writeErrors, writeError(i, reply.body))
		}
		statementN, _ := reply.body.Lookup("n").AsInt32OK()
		statementModified, _ := reply.body.Lookup("nModified").AsInt32OK()
		n, modified = n+statementN, modified+statementModified
		if list, ok := reply.body.Lookup("upserted").ArrayOK(); ok {
			values, _ := list.Values()
			for _, v := range values {
				if id, err := v.Document().LookupErr("_id"); err == nil {
					upserted = append(upserted, bsoncore.NewDocumentBuilder().
						AppendInt32("index", int32(i)).AppendValue("_id", id).Build())
				}
			}
		}
		failed := !replyOK(raw)
		if list, ok := reply.body.Lookup("writeErrors").ArrayOK(); ok {
			values, _ := list.Values()
			for _, v := range values {
				if doc, ok := v.DocumentOK(); ok {
					writeErrors = append(writeErrors, withIndex(doc, i))
					failed = true
				}
			}
		}
		if failed && ordered {
			break
		}
	}
	result := bsoncore.NewDocumentBuilder().AppendInt32("n", n).AppendInt32("nModified", modified)
	if len(upserted) > 0 {
		result.AppendArray("upserted", documentArray(upserted))
	}
	if len(writeErrors) > 0 {
		result.AppendArray("writeErrors", documentArray(writeErrors))
	}
	return s.answer(msg, result.AppendDouble("ok", 1).Build())
}

// splitStatements returns the statements of a write command, from its document sequence
// (PyMongo) or its body array (other drivers), and the body without them.
func splitStatements(msg *opMessage, field string) ([]bsoncore.Document, bsoncore.Document) {
	var statements []bsoncore.Document
	for _, seq := range msg.sequences {
		if seq.identifier == field {
			statements = append(statements, seq.docs...)
		}
	}
	idx, common := bsoncore.AppendDocumentStart(nil)
	elements, _ := msg.body.Elements()
	for _, e := range elements {
		if e.Key() != field {
			common = append(common, e...)
			continue
		}
		if list, ok := e.Value().ArrayOK(); ok {
			values, _ := list.Values()
			for _, v := range values {
				if doc, ok := v.DocumentOK(); ok {
					statements = append(statements, doc)
				}
			}
		}
	}
	common, _ = bsoncore.AppendDocumentEnd(common, idx)
	return statements, common
}

func (s *session) answer(request *opMessage, body bsoncore.Document) error {
	if request.flags&moreToCome != 0 {
		return nil // an unacknowledged write: the client expects no reply
	}
	_, err := s.client.Write((&opMessage{body: body}).encode(nextRequestID(), request.requestID))
	return err
}

// withIndex is a write error of one sub-command placed at its statement's index.
func withIndex(doc bsoncore.Document, index int) bsoncore.Document {
	b := bsoncore.NewDocumentBuilder().AppendInt32("index", int32(index))
	elements, _ := doc.Elements()
	for _, e := range elements {
		if e.Key() != "index" {
			b.AppendValue(e.Key(), e.Value())
		}
	}
	return b.Build()
}

// writeError turns a command error on one statement into that statement's write error.
func writeError(index int, reply bsoncore.Document) bsoncore.Document {
	code, _ := reply.Lookup("code").AsInt32OK()
	message, _ := reply.Lookup("errmsg").StringValueOK()
	return bsoncore.NewDocumentBuilder().AppendInt32("index", int32(index)).
		AppendInt32("code", code).AppendString("errmsg", message).Build()
}

func documentArray(docs []bsoncore.Document) bsoncore.Array {
	b := bsoncore.NewArrayBuilder()
	for _, d := range docs {
		b.AppendDocument(d)
	}
	return b.Build()
}

// --- the wire protocol ------------------------------------------------------------------

type section struct {
	identifier string
	docs       []bsoncore.Document
}

// opMessage is an OP_MSG: flags, the command body (section kind 0) and document sequences
// (kind 1).
type opMessage struct {
	requestID int32
	flags     uint32
	body      bsoncore.Document
	sequences []section
}

func parseOpMsg(m []byte) (*opMessage, bool) {
	if len(m) < 21 || opCode(m) != opMsg {
		return nil, false
	}
	msg := &opMessage{requestID: int32(binary.LittleEndian.Uint32(m[4:8])), flags: flags(m)}
	end := len(m)
	if msg.flags&checksumFlag != 0 {
		end -= 4
	}
	for pos := 20; pos < end; {
		kind := m[pos]
		pos++
		switch kind {
		case 0:
			doc, rest, ok := bsoncore.ReadDocument(m[pos:end])
			if !ok || msg.body != nil {
				return nil, false
			}
			msg.body, pos = doc, end-len(rest)
		case 1:
			if pos+4 > end {
				return nil, false
			}
			size := int(binary.LittleEndian.Uint32(m[pos : pos+4]))
			if size < 5 || pos+size > end {
				return nil, false
			}
			identifier, docs, ok := cstring(m[pos+4 : pos+size])
			if !ok {
				return nil, false
			}
			seq := section{identifier: identifier}
			for len(docs) > 0 {
				doc, rest, ok := bsoncore.ReadDocument(docs)
				if !ok {
					return nil, false
				}
				seq.docs, docs = append(seq.docs, doc), rest
			}
			msg.sequences = append(msg.sequences, seq)
			pos += size
		default:
			return nil, false
		}
	}
	if msg.body == nil || msg.body.Validate() != nil {
		return nil, false
	}
	return msg, true
}

// encode writes the message without a checksum and with moreToCome only if it was set.
func (m *opMessage) encode(requestID, responseTo int32) []byte {
	out := make([]byte, 16, 21+len(m.body))
	binary.LittleEndian.PutUint32(out[4:8], uint32(requestID))
	binary.LittleEndian.PutUint32(out[8:12], uint32(responseTo))
	binary.LittleEndian.PutUint32(out[12:16], opMsg)
	out = binary.LittleEndian.AppendUint32(out, m.flags&moreToCome)
	out = append(out, 0)
	out = append(out, m.body...)
	for _, seq := range m.sequences {
		start := len(out)
		out = append(out, 1, 0, 0, 0, 0)
		out = append(out, seq.identifier...)
		out = append(out, 0)
		for _, doc := range seq.docs {
			out = append(out, doc...)
		}
		binary.LittleEndian.PutUint32(out[start+1:start+5], uint32(len(out)-start-1))
	}
	binary.LittleEndian.PutUint32(out[0:4], uint32(len(out)))
	return out
}

// describe returns the command's name, its first value when a string (the collection),
// and $db.
func describe(m *opMessage) (name, collection, db string) {
	first, err := m.body.IndexErr(0)
	if err != nil {
		return "", "", ""
	}
	name = first.Key()
	collection, _ = first.Value().StringValueOK()
	db, _ = m.body.Lookup("$db").StringValueOK()
	return name, collection, db
}

func replyBody(reply []byte) bsoncore.Document {
	if msg, ok := parseOpMsg(reply); ok {
		return msg.body
	}
	return nil
}

func replyOK(reply []byte) bool {
	body := replyBody(reply)
	if body == nil {
		return false
	}
	v := body.Lookup("ok")
	if f, ok := v.DoubleOK(); ok {
		return f == 1
	}
	i, ok := v.AsInt64OK()
	return ok && i == 1
}

// cursorID is the id of the cursor a reply leaves open, or 0.
func cursorID(reply []byte) int64 {
	body := replyBody(reply)
	if body == nil {
		return 0
	}
	id, _ := body.Lookup("cursor", "id").AsInt64OK()
	return id
}

func errorReply(responseTo, code int32, codeName, message string) []byte {
	body := bsoncore.NewDocumentBuilder().AppendDouble("ok", 0).AppendString("errmsg", message).
		AppendInt32("code", code).AppendString("codeName", codeName).Build()
	return (&opMessage{body: body}).encode(nextRequestID(), responseTo)
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

func cstring(b []byte) (string, []byte, bool) {
	for i, c := range b {
		if c == 0 {
			return string(b[:i]), b[i+1:], true
		}
	}
	return "", nil, false
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

// setAsideUninitialised renames database files FerretDB never finished creating (killed
// between creating the file and its metadata table): FerretDB refuses to start while one
// lies in its directory, and such a file holds no collection, so nothing is lost.
func setAsideUninitialised(dir string) {
	files, _ := filepath.Glob(filepath.Join(dir, "*.sqlite"))
	for _, file := range files {
		if initialised(file) {
			continue
		}
		aside := fmt.Sprintf("%s.uninitialised-%d", file, time.Now().Unix())
		if err := os.Rename(file, aside); err != nil {
			log.Fatalf("set aside %s (no FerretDB metadata): %v", file, err)
		}
		for _, suffix := range []string{"-wal", "-shm"} {
			_ = os.Rename(file+suffix, aside+suffix)
		}
		log.Printf("set aside %s: no FerretDB metadata (created just before a crash)", file)
	}
}

func initialised(file string) bool {
	db, err := sql.Open("sqlite", "file:"+file+"?mode=rw&_pragma=busy_timeout(5000)")
	if err != nil {
		return true // not ours to judge; let FerretDB report it
	}
	defer db.Close()
	var tables int
	err = db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_ferretdb_collections'`).Scan(&tables)
	return err != nil || tables > 0
}

func indexTables(ctx context.Context, file string) {
	// mode=rw: a database dropped since the glob must not be re-created as an empty file
	// (FerretDB refuses to start next to a .sqlite file without its metadata table).
	db, err := sql.Open("sqlite", "file:"+file+"?mode=rw&_pragma=busy_timeout(5000)")
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
