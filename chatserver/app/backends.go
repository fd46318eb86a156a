package app

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/config"
	"github.com/chatcluster/chatcluster/chatserver/inmem"
	"github.com/chatcluster/chatcluster/chatserver/kafka"
	"github.com/chatcluster/chatcluster/chatserver/mongo"
	"github.com/chatcluster/chatcluster/chatserver/redis"
	"github.com/chatcluster/chatcluster/chatserver/service"
	"github.com/chatcluster/chatcluster/chatserver/sqlite"
)

// SpoolDirName is the activity spool's directory inside the data directory.
const SpoolDirName = "activity-spool"

// opening is the state of openBackends: each of its methods opens one kind
// of backend if a role uses it, and gives it those roles.
type opening struct {
	cfg   *config.Config
	roles Roles
	opts  *Options
	log   *slog.Logger
	b     *service.Deps
}

// openBackends opens the backends that roles name, each once, and nothing
// else: no SQLite file when every role runs elsewhere.
//
// Each gets a readiness check: the stores of users, sessions and messages
// and Redis are critical (without them this instance cannot serve chat),
// Kafka and Elasticsearch only degrade it (the spool keeps sends working;
// only the admins' activity search and stats need Elasticsearch).
func openBackends(ctx context.Context, cfg *config.Config, roles Roles, opts *Options, log *slog.Logger) (*service.Deps, error) {
	o := &opening{cfg: cfg, roles: roles, opts: opts, log: log, b: &service.Deps{}}
	for _, open := range []func(context.Context) error{o.sqlite, o.memory, o.redis, o.mongoDB, o.kafka, o.elasticsearch} {
		if err := open(ctx); err != nil {
			_ = o.b.Close()
			return nil, err
		}
	}
	if (roles.Activity == Kafka) != (roles.Index == Elasticsearch) {
		log.Warn("activity events are searched where they are not written: configure Kafka and Elasticsearch together, with `chatserver index` between them",
			"kafka", roles.Activity == Kafka, "elasticsearch", roles.Index == Elasticsearch)
	}
	return o.b, nil
}

// OpenSQLite opens the embedded database under cfg's data directory, with
// cfg's fsync setting, as a server does for the roles it serves; callers
// that share one store between instances pass it as Options.SQLite.
func OpenSQLite(ctx context.Context, cfg *config.Config, log *slog.Logger) (*sqlite.DB, error) {
	opts := []sqlite.Option{sqlite.WithLogger(log)}
	if !cfg.Fsync {
		opts = append(opts, sqlite.WithoutFsync())
	}
	return sqlite.Open(ctx, cfg.DataDir, opts...)
}

// sqlite opens the embedded database under the data directory, or takes
// Options.SQLite.
func (o *opening) sqlite(ctx context.Context) error {
	r := o.roles
	if !r.Uses(SQLite) {
		return nil
	}
	db := o.opts.SQLite
	if db == nil {
		var err error
		if db, err = OpenSQLite(ctx, o.cfg, o.log); err != nil {
			return err
		}
		o.b.OnClose(db.Close)
	}
	o.b.AddCheck(string(SQLite), db, service.Critical)
	if r.Users == SQLite {
		o.b.Users = db
	}
	if r.Sessions == SQLite {
		o.b.Sessions = db
	}
	if r.Messages == SQLite {
		o.b.Messages = db
	}
	if r.Activity == SQLite {
		o.b.Activity = db
	}
	if r.Index == SQLite {
		o.b.Index = db
	}
	if r.Search == SQLite {
		o.b.Search = db
	}
	if r.Messages == SQLite && r.Activity == SQLite {
		o.b.Recorder = db // a message and its event in one write
	}
	return nil
}

// memory makes the in-process presence and fan-out, for one instance alone.
func (o *opening) memory(context.Context) error {
	if o.roles.Presence == Memory {
		o.b.Presence = inmem.NewPresence()
	}
	if o.roles.Broker == Memory {
		o.b.Broker = inmem.NewBroker()
	}
	if o.roles.Limits() == Memory {
		o.b.SignIn = signInPolicy(o.cfg, service.NewMemoryLimiter(o.cfg.SignInTrackedKeys, nil))
	}
	return nil
}

// redis connects to Redis, which several instances share.
func (o *opening) redis(ctx context.Context) error {
	r := o.roles
	if !r.Uses(Redis) {
		return nil
	}
	rcfg := redis.Config{
		URL:        o.cfg.RedisURL,
		Password:   o.cfg.RedisPassword,
		CAFile:     o.cfg.RedisCAFile,
		InstanceID: o.cfg.InstanceID,
		Logger:     o.log,
	}
	if o.opts.Redis != nil {
		o.opts.Redis(&rcfg)
	}
	rc, err := redis.Open(ctx, rcfg)
	if err != nil {
		return err
	}
	o.b.OnClose(rc.Close)
	o.b.AddCheck(string(Redis), rc, service.Critical)
	if r.Sessions == Redis {
		o.b.Sessions = rc.Sessions()
	}
	if r.Presence == Redis {
		o.b.Presence = rc.Presence()
	}
	if r.Broker == Redis {
		o.b.Broker = rc.Broker()
	}
	if r.Limits() == Redis {
		o.b.SignIn = signInPolicy(o.cfg, rc.Limiter())
	}
	o.log.Info("redis: presence, fan-out and sessions shared", "instance", o.cfg.InstanceID)
	return nil
}

// signInPolicy is the sign-in policy of the configuration, counted in lim.
func signInPolicy(cfg *config.Config, lim chatserver.Limiter) *service.SignInPolicy {
	return &service.SignInPolicy{
		Limiter:      lim,
		UserFailures: chatserver.Rate{Events: cfg.SignInUserFailures, Period: cfg.SignInFailureWindow},
		AddrFailures: chatserver.Rate{Events: cfg.SignInAddrFailures, Period: cfg.SignInFailureWindow},
		AddrSignups:  chatserver.Rate{Events: cfg.SignupsPerAddress, Period: time.Hour},
		HashWait:     cfg.SignInHashWait,
		RefuseCommon: cfg.PasswordRefuseCommon,
	}
}

func (o *opening) mongoDB(ctx context.Context) error {
	r := o.roles
	if !r.Uses(MongoDB) {
		return nil
	}
	db, err := mongo.Open(ctx, mongo.Config{URI: o.cfg.MongoURI, Database: o.cfg.MongoDatabase, CAFile: o.cfg.MongoDBCAFile})
	if err != nil {
		return fmt.Errorf("%s: %w", config.EnvMongoDBURI, err)
	}
	o.b.OnClose(db.Close)
	o.b.AddCheck(string(MongoDB), db, service.Critical)
	if r.Users == MongoDB {
		o.b.Users = db
	}
	if r.Sessions == MongoDB {
		o.b.Sessions = db
	}
	if r.Messages == MongoDB {
		o.b.Messages = db
	}
	return nil
}

// kafka opens the activity log on Kafka, with its spool in the data
// directory.
func (o *opening) kafka(context.Context) error {
	if o.roles.Activity != Kafka {
		return nil
	}
	conn, err := kafkaConn(o.cfg)
	if err != nil {
		return err
	}
	l, err := kafka.Open(kafka.Config{
		Conn:         conn,
		Topic:        activityTopic(o.cfg),
		SpoolDir:     filepath.Join(o.cfg.DataDir, SpoolDirName),
		FlushTimeout: o.cfg.ShutdownTimeout / 2,
		Logger:       o.log,
	})
	if err != nil {
		return fmt.Errorf("%s: %w", config.EnvKafkaBrokers, err)
	}
	o.b.OnClose(l.Close)
	o.b.AddCheck(string(Kafka), l, service.Degrading)
	o.b.Activity = l
	o.b.Collectors = append(o.b.Collectors, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "chat_activity_spool_events",
		Help: "Activity events in the local spool that Kafka has not acknowledged yet.",
	}, func() float64 { return float64(l.Backlog()) }))
	return nil
}

func (o *opening) elasticsearch(context.Context) error {
	if o.roles.Index != Elasticsearch {
		return nil
	}
	c, err := elasticClient(o.cfg)
	if err != nil {
		return err
	}
	o.b.AddCheck(string(Elasticsearch), c, service.Degrading)
	o.b.Index = c
	if o.roles.Search == Elasticsearch {
		o.b.Search = c
	}
	return nil
}
