// A subscriber to the programme's public feed, as a downstream system would write one: it reads
// the feed topics as the Kafka principal `subscriber` (SASL/SCRAM-SHA-512) in a consumer group of
// its own, checks every record against the models generated from the AsyncAPI document, drops
// repeats by ce_source + ce_id (delivery is at least once), and counts the events.
//
// It reads until it has caught up with the feed (every partition at its end, and nothing new for
// --idle-ms), prints one JSON line of counts on stdout, and exits: 0 every record valid, 1 some
// record invalid (each is named on stderr), 2 it could not run (arguments, credentials, broker),
// 3 it did not catch up within --timeout-s.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Kafka, logLevel, SASLOptions } from "kafkajs";
import { FeedValidator, InvalidRecord } from "./validate";

interface Options {
  bootstrap: string[];
  username: string;
  passwordFile: string;
  caFile: string | null;
  prefix: string;
  group: string;
  since: number | null;
  idleMs: number;
  timeoutS: number;
}

const USAGE = `usage: node dist/main.js [--bootstrap HOST:PORT,...] [--username subscriber]
  [--password-file FILE] [--ca-file PEM] [--topic-prefix P] [--group subscriber.NAME]
  [--since EPOCH_MS] [--idle-ms 2000] [--timeout-s 120]
The environment gives the defaults: KAFKA_BOOTSTRAP_SERVERS, KAFKA_SECURITY_PROTOCOL (SASL_SSL
needs --ca-file or KAFKA_SSL_CAFILE), MUBA_SECRETS_DIR (the password in kafka/subscriber),
TOPIC_PREFIX.`;

class UsageError extends Error {}

function options(argv: string[], env: NodeJS.ProcessEnv): Options {
  const given = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) {
    const [name, value] = [argv[i], argv[i + 1]];
    if (!name.startsWith("--") || value === undefined) throw new UsageError(`${name}: a value is missing`);
    given.set(name.slice(2), value);
  }
  const known = ["bootstrap", "username", "password-file", "ca-file", "topic-prefix", "group", "since", "idle-ms", "timeout-s"];
  for (const name of given.keys()) if (!known.includes(name)) throw new UsageError(`--${name}: unknown option`);
  const number = (name: string, fallback: number | null): number | null => {
    const text = given.get(name);
    if (text === undefined) return fallback;
    const value = Number(text);
    if (!Number.isInteger(value) || value < 0) throw new UsageError(`--${name}: ${text} is not a whole number`);
    return value;
  };
  const username = given.get("username") ?? "subscriber";
  const secrets = env.MUBA_SECRETS_DIR ?? join(process.cwd(), ".cache", "secrets");
  const prefix = given.get("topic-prefix") ?? env.TOPIC_PREFIX ?? "";
  const ssl = (env.KAFKA_SECURITY_PROTOCOL ?? "SASL_PLAINTEXT") === "SASL_SSL";
  return {
    bootstrap: (given.get("bootstrap") ?? env.KAFKA_BOOTSTRAP_SERVERS ?? "127.0.0.1:9092").split(","),
    username,
    passwordFile: given.get("password-file") ?? join(secrets, "kafka", username),
    caFile: given.get("ca-file") ?? env.KAFKA_SSL_CAFILE ?? (ssl ? join(secrets, "tls", "ca.pem") : null),
    prefix,
    // Groups the subscriber may use start with "subscriber." (in the topic namespace).
    group: given.get("group") ?? `${prefix}subscriber.typescript`,
    since: number("since", null),
    idleMs: number("idle-ms", 2000) as number,
    timeoutS: number("timeout-s", 120) as number,
  };
}

function headersOf(raw: Record<string, Buffer | string | (Buffer | string)[] | undefined> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw ?? {})) {
    if (value === undefined) continue;
    const last = Array.isArray(value) ? value[value.length - 1] : value;
    out[name] = Buffer.isBuffer(last) ? last.toString("utf8") : String(last);
  }
  return out;
}

async function run(o: Options): Promise<number> {
  const validator = new FeedValidator(o.prefix);
  const password = readFileSync(o.passwordFile, "utf8").trim();
  const sasl: SASLOptions = { mechanism: "scram-sha-512", username: o.username, password };
  const kafka = new Kafka({
    clientId: "muba-feed-subscriber-typescript",
    brokers: o.bootstrap,
    sasl,
    ssl: o.caFile ? { ca: [readFileSync(o.caFile, "utf8")] } : false,
    logLevel: logLevel.NOTHING, // what goes wrong is thrown, and said on stderr
    retry: { retries: 5 },
  });
  const admin = kafka.admin();
  const consumer = kafka.consumer({ groupId: o.group, sessionTimeout: 10000, heartbeatInterval: 2000 });
  const topics = validator.topics;
  // Where each partition starts (the first record at or after --since, or where the group left
  // off, or the beginning) and where it ends now.
  const start = new Map<string, number>();
  const end = new Map<string, number>();
  const position = new Map<string, number>();
  const ends = async (): Promise<void> => {
    for (const topic of topics) {
      for (const p of await admin.fetchTopicOffsets(topic)) end.set(`${topic}:${p.partition}`, Number(p.high));
    }
  };
  await admin.connect();
  try {
    const committed = new Map<string, number>();
    if (o.since === null) {
      for (const t of await admin.fetchOffsets({ groupId: o.group, topics })) {
        for (const p of t.partitions) if (Number(p.offset) >= 0) committed.set(`${t.topic}:${p.partition}`, Number(p.offset));
      }
    }
    for (const topic of topics) {
      const low = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.low)]));
      const at = o.since === null ? null : await admin.fetchTopicOffsetsByTimestamp(topic, o.since);
      for (const [partition, first] of low) {
        const key = `${topic}:${partition}`;
        const fromTime = at?.find((p) => p.partition === partition);
        start.set(key, fromTime ? Math.max(first, Number(fromTime.offset)) : committed.get(key) ?? first);
      }
    }
    await ends();

    const counts: Record<string, number> = Object.fromEntries(topics.map((t) => [validator.name(t), 0]));
    const seen = new Set<string>();
    let records = 0;
    let duplicates = 0;
    let invalid = 0;
    let lastRecord = Date.now();
    for (const [key, offset] of start) position.set(key, offset);

    await consumer.connect();
    await consumer.subscribe({ topics, fromBeginning: true });
    await consumer.run({
      autoCommit: true,
      eachMessage: async ({ topic, partition, message }) => {
        const key = `${topic}:${partition}`;
        const offset = Number(message.offset);
        // Before a seek lands, records before the start may still arrive: not ours to count.
        if (offset < (start.get(key) ?? 0)) return;
        if (o.since !== null && Number(message.timestamp) < o.since) {
          position.set(key, offset + 1);
          return;
        }
        records += 1;
        lastRecord = Date.now();
        try {
          const event = validator.check(topic, message.key, headersOf(message.headers), message.value);
          if (seen.has(event.id)) duplicates += 1;
          else {
            seen.add(event.id);
            counts[validator.name(topic)] += 1;
          }
        } catch (error) {
          if (!(error instanceof InvalidRecord)) throw error;
          invalid += 1;
          console.error(`invalid record ${topic} partition ${partition} offset ${offset}: ${error.message}`);
        }
        position.set(key, offset + 1);
      },
    });
    for (const [key, offset] of start) {
      const cut = key.lastIndexOf(":");
      consumer.seek({ topic: key.slice(0, cut), partition: Number(key.slice(cut + 1)), offset: String(offset) });
    }

    const deadline = Date.now() + o.timeoutS * 1000;
    const caughtUp = (): boolean => [...end].every(([key, high]) => (position.get(key) ?? 0) >= high);
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      if (caughtUp() && Date.now() - lastRecord >= o.idleMs) {
        await ends(); // the feed may have grown meanwhile
        if (caughtUp()) break;
      }
      if (Date.now() > deadline) {
        const behind = [...end].filter(([key, high]) => (position.get(key) ?? 0) < high).map(([key]) => key);
        console.error(`did not catch up with the feed in ${o.timeoutS} s (behind on ${behind.join(", ")})`);
        console.log(JSON.stringify({ group: o.group, events: counts, records, duplicates, invalid, caught_up: false }));
        return 3;
      }
    }
    console.log(JSON.stringify({ group: o.group, events: counts, records, duplicates, invalid, caught_up: true }));
    console.error(
      `feed read as ${o.username} in group ${o.group}: ${records} records, ` +
        Object.entries(counts).map(([t, n]) => `${t} ${n}`).join(", ") +
        `, ${duplicates} repeats dropped, ${invalid} invalid`,
    );
    return invalid > 0 ? 1 : 0;
  } finally {
    await consumer.disconnect().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  }
}

async function main(): Promise<void> {
  let o: Options;
  if (process.argv.includes("--help")) {
    console.log(USAGE);
    process.exit(0);
  }
  try {
    o = options(process.argv.slice(2), process.env);
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  try {
    process.exit(await run(o));
  } catch (error) {
    console.error(`the subscriber could not read the feed: ${(error as Error).message}`);
    process.exit(2);
  }
}

void main();
