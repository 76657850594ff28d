// What the subscriber checks in each record of the feed, against what generate.mjs took from the
// AsyncAPI document: the CloudEvents headers, the type, the JSON payload (its schema, then the
// generated model, which must carry every field back), and the key.
import Ajv, { ErrorObject, ValidateFunction } from "ajv";
import addFormats from "ajv-formats";
import feed from "./generated/feed.json";
import * as models from "./generated";

interface Model {
  marshal(): string;
}
interface ModelClass {
  unmarshal(json: string | object): Model;
}

export interface FeedTopic {
  topic: string;
  type: string;
  model: string;
  headers: object;
  payload: object;
  key: object | null;
}

export interface Checked {
  id: string; // ce_source + " " + ce_id: the event's identity, for deduplication
  model: Model;
}

interface Compiled {
  spec: FeedTopic;
  headers: ValidateFunction;
  payload: ValidateFunction;
  key: ValidateFunction | null;
  model: ModelClass;
}

export class InvalidRecord extends Error {}

function describe(errors: ErrorObject[] | null | undefined): string {
  return (errors ?? []).map((e) => `${e.instancePath || "/"} ${e.message ?? "is invalid"}`).join("; ");
}

/** The same JSON value with its object keys sorted, to compare two values. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value as object)
        .sort()
        .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

export class FeedValidator {
  private readonly byTopic = new Map<string, Compiled>();

  /** `prefix`: a topic namespace (TOPIC_PREFIX), "" in production. */
  constructor(readonly prefix: string = "") {
    const ajv = new Ajv({ allErrors: true, strict: false });
    addFormats(ajv);
    const all = models as unknown as Record<string, ModelClass>;
    for (const spec of feed as FeedTopic[]) {
      const model = all[spec.model];
      if (!model) throw new Error(`no generated model ${spec.model} for ${spec.topic}`);
      this.byTopic.set(prefix + spec.topic, {
        spec,
        headers: ajv.compile(spec.headers),
        payload: ajv.compile(spec.payload),
        key: spec.key ? ajv.compile(spec.key) : null,
        model,
      });
    }
  }

  get topics(): string[] {
    return [...this.byTopic.keys()];
  }

  /** The feed topic (without the prefix) of a topic this validator reads. */
  name(topic: string): string {
    return this.byTopic.get(topic)?.spec.topic ?? topic;
  }

  /** The record's event, or InvalidRecord saying which part is wrong and why. */
  check(topic: string, key: Buffer | null, headers: Record<string, string>, value: Buffer | null): Checked {
    const compiled = this.byTopic.get(topic);
    if (!compiled) throw new InvalidRecord(`not a feed topic: ${topic}`);
    if (!compiled.headers(headers)) throw new InvalidRecord(`headers: ${describe(compiled.headers.errors)}`);
    if (headers.ce_type !== compiled.spec.type) {
      throw new InvalidRecord(`headers: ce_type ${headers.ce_type} is not ${compiled.spec.type}`);
    }
    let payload: unknown;
    try {
      payload = JSON.parse((value ?? Buffer.alloc(0)).toString("utf8"));
    } catch {
      throw new InvalidRecord("payload: not JSON");
    }
    if (!compiled.payload(payload)) throw new InvalidRecord(`payload: ${describe(compiled.payload.errors)}`);
    const model = compiled.model.unmarshal(payload as object);
    const carried = JSON.parse(model.marshal());
    if (JSON.stringify(canonical(carried)) !== JSON.stringify(canonical(payload))) {
      throw new InvalidRecord(`payload: the generated model ${compiled.spec.model} does not carry it back`);
    }
    const text = key === null ? null : key.toString("utf8");
    if (compiled.key && !compiled.key(text)) throw new InvalidRecord(`key: ${describe(compiled.key.errors)}`);
    // The document's key: the worker_ref, so a worker's events share a partition, in order.
    if (text !== (payload as { worker_ref?: string }).worker_ref) {
      throw new InvalidRecord("key: not the payload's worker_ref");
    }
    return { id: `${headers.ce_source} ${headers.ce_id}`, model };
  }
}
