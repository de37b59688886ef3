/**
 * Random and malformed request bodies for any message of the descriptor set, from a seeded
 * generator: the same seed gives the same bytes, so a failing case is replayed by its number.
 */
import { create, ScalarType, toBinary, type DescField, type DescMessage } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";

type Rng = () => number;

/** How a case's body was made, for the report. */
export type BodyKind =
  | "typed" // every field a random value of its type: extreme, empty, huge, unicode
  | "plausible" // values shaped like real ones (ids, skus, emails), some fields left out
  | "wrong-types" // fields of the message written with the wrong wire type
  | "truncated" // a typed body cut short
  | "unknown-fields" // a typed body with fields the schema does not have
  | "huge-varints" // varints of 10 bytes and more, lengths claiming 2^63 bytes
  | "deep" // groups and length-delimited fields nested thousands deep
  | "oversized-field" // one string field of 16 to 256 KiB, far past any field's limit
  | "over-limit" // a message over the 4 MiB limit
  | "random-bytes" // noise
  | "empty";

// Weights: most cases are cheap; the megabyte ones are few, so that a run stays quick.
const KINDS: readonly BodyKind[] = [
  ...Array<BodyKind>(12).fill("typed"),
  ...Array<BodyKind>(8).fill("plausible"),
  ...Array<BodyKind>(8).fill("wrong-types"),
  ...Array<BodyKind>(5).fill("truncated"),
  ...Array<BodyKind>(4).fill("unknown-fields"),
  ...Array<BodyKind>(6).fill("huge-varints"),
  ...Array<BodyKind>(4).fill("deep"),
  "oversized-field",
  ...Array<BodyKind>(8).fill("random-bytes"),
  ...Array<BodyKind>(3).fill("empty"),
];
// One case in this many, on top of the weights above, is over the message limit.
const OVER_LIMIT_ONE_IN = 400;
const MESSAGE_LIMIT = 4 * 1024 * 1024;
// Past every field's limit (ids, names: a few hundred bytes at most). Not up to the message
// limit: a 4 MB message read in full leaves a member tens of MB of garbage that the RSS bound
// would count until V8 collects it; the limit itself is what "over-limit" tests.
const OVERSIZED_FIELD = { min: 16 * 1024, max: 256 * 1024 };
// Length-delimited fields nested this deep at most (groups go to 100,000).
const MAX_NESTED_LENGTHS = 20_000;
const MAX_VARINT32_BYTES = 5;

const pick = <T>(rng: Rng, items: readonly T[]): T => items[Math.floor(rng() * items.length)];
const int = (rng: Rng, min: number, max: number): number =>
  min + Math.floor(rng() * (max - min + 1));

const UNICODE = ["é", "ß", "🙂", "\u0000", "\u202e", "\uffff", "日本", "\ud83d", "👩‍👩‍👧", " ", "%"];
const PLAUSIBLE = [
  "usr_01JAAAAAAAAAAAAAAAAAAAAAAA",
  "ord_01JAAAAAAAAAAAAAAAAAAAAAAA",
  "pay_01JAAAAAAAAAAAAAAAAAAAAAAA",
  "sku-espresso",
  "sku-kettle",
  "ada@example.com",
  "tok_visa",
  "tok_chargeDeclined",
  "USD",
  "EUR",
  "notifications",
  "demo-order-1",
];

function randomString(rng: Rng): string {
  switch (int(rng, 0, 6)) {
    case 0:
      return "";
    case 1:
      // Huge: far past every field's maximum, well under the 4 MiB message limit.
      return "x".repeat(int(rng, 1_000, 200_000));
    case 2:
      return Array.from({ length: int(rng, 1, 40) }, () => pick(rng, UNICODE)).join("");
    case 3:
      return pick(rng, PLAUSIBLE);
    default:
      return Array.from({ length: int(rng, 1, 30) }, () =>
        String.fromCharCode(int(rng, 32, 126)),
      ).join("");
  }
}

const INT32_EXTREMES = [0, 1, -1, 2 ** 31 - 1, -(2 ** 31), 1_000, 10_001, -1_000];
const INT64_EXTREMES = [0n, -1n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 53n + 1n, 1_000_000n];

function randomScalar(rng: Rng, type: ScalarType): unknown {
  switch (type) {
    case ScalarType.STRING:
      return randomString(rng);
    case ScalarType.BYTES:
      return randomBytes(rng, int(rng, 0, 64));
    case ScalarType.BOOL:
      return rng() < 0.5;
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return pick(rng, [0, -0, 1.5, -1e308, Number.NaN, Infinity, -Infinity, 3.4e38]);
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return pick(rng, INT64_EXTREMES);
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return pick(rng, [0n, 1n, 2n ** 64n - 1n, 2n ** 53n + 1n]);
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return pick(rng, [0, 1, 2 ** 32 - 1, 10_001]);
    default:
      return rng() < 0.6 ? pick(rng, INT32_EXTREMES) : int(rng, -100, 100);
  }
}

function randomBytes(rng: Rng, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = int(rng, 0, 255);
  return bytes;
}

/** A value for one field, or undefined to leave it out. */
function randomField(rng: Rng, field: DescField, depth: number, plausible: boolean): unknown {
  if (rng() < (plausible ? 0.15 : 0.3)) return undefined;
  const scalar = (type: ScalarType, short: boolean): unknown =>
    short && type === ScalarType.STRING
      ? pick(rng, PLAUSIBLE)
      : short && type === ScalarType.INT32
        ? int(rng, 0, 5)
        : randomScalar(rng, type);
  const enumValue = (values: readonly { number: number }[]): number =>
    rng() < 0.8 ? pick(rng, values).number : pick(rng, [-1, 99, 2 ** 31 - 1]);
  switch (field.fieldKind) {
    case "scalar":
      return scalar(field.scalar, plausible);
    case "enum":
      return enumValue(field.enum.values);
    case "message":
      return depth > 3 ? undefined : randomMessage(rng, field.message, depth + 1, plausible);
    case "list": {
      // Now and then a long list, past any sensible item limit, of short plausible items: of
      // huge strings it would be megabytes, which over-limit and oversized-field already are.
      const long = rng() < 0.05;
      const short = plausible || long;
      return Array.from({ length: long ? int(rng, 200, 2_000) : int(rng, 0, 4) }, () =>
        field.listKind === "scalar"
          ? scalar(field.scalar, short)
          : field.listKind === "enum"
            ? enumValue(field.enum.values)
            : depth > 3
              ? create(field.message)
              : randomMessage(rng, field.message, depth + 1, short),
      );
    }
    default:
      return undefined;
  }
}

/** A message with random values of the right types (oneof members: one at most, or none). */
function randomMessage(
  rng: Rng,
  schema: DescMessage,
  depth: number,
  plausible: boolean,
): Record<string, unknown> {
  const init: Record<string, unknown> = {};
  for (const field of schema.fields) {
    const value = randomField(rng, field, depth, plausible);
    if (value === undefined) continue;
    if (field.oneof) {
      if (init[field.oneof.localName] === undefined) {
        init[field.oneof.localName] = { case: field.localName, value };
      }
    } else init[field.localName] = value;
  }
  return create(schema, init as never);
}

function typedBody(rng: Rng, schema: DescMessage, plausible = false): Uint8Array {
  return toBinary(schema, randomMessage(rng, schema, 0, plausible) as never);
}

/** Every field of the message written with a wire type or value it does not expect. */
function wrongTypes(rng: Rng, schema: DescMessage): Uint8Array {
  const w = new BinaryWriter();
  for (const field of schema.fields) {
    if (rng() < 0.3) continue;
    switch (int(rng, 0, 4)) {
      case 0:
        w.tag(field.number, WireType.Varint).uint64(pick(rng, [0n, 2n ** 64n - 1n, 2n ** 63n]));
        break;
      case 1:
        w.tag(field.number, WireType.LengthDelimited).bytes(randomBytes(rng, int(rng, 0, 32)));
        break;
      case 2:
        w.tag(field.number, WireType.Bit64).fixed64(2n ** 64n - 1n);
        break;
      case 3:
        w.tag(field.number, WireType.Bit32).fixed32(2 ** 32 - 1);
        break;
      default:
        // A length that runs past the end of the message.
        w.tag(field.number, WireType.LengthDelimited).uint32(int(rng, 100, 100_000));
    }
  }
  return w.finish();
}

/** Varints past what protobuf allows (10 bytes at most), and lengths no message can have. */
function hugeVarints(rng: Rng, schema: DescMessage): Uint8Array {
  const numbers = schema.fields.length > 0 ? schema.fields.map((f) => f.number) : [1];
  const parts: Uint8Array[] = [];
  for (let i = 0; i < int(rng, 1, 4); i++) {
    const field = pick(rng, numbers);
    switch (int(rng, 0, 3)) {
      case 0: {
        // An 11- to 20-byte varint: every byte but the last has its continuation bit.
        const length = int(rng, 11, 20);
        const bytes = new Uint8Array(length + 1).fill(0xff);
        bytes[0] = (field << 3) | WireType.Varint;
        bytes[length] = 0x01;
        parts.push(bytes);
        break;
      }
      case 1:
        // A length-delimited field claiming 2^63 - 1 bytes.
        parts.push(
          new BinaryWriter()
            .tag(field, WireType.LengthDelimited)
            .uint64(2n ** 63n - 1n)
            .finish(),
        );
        break;
      case 2:
        // A tag whose field number is 0, or past 2^29 - 1.
        parts.push(new BinaryWriter().uint64(pick(rng, [0n, 2n ** 32n, 2n ** 61n])).finish());
        break;
      default:
        // The largest 64-bit values, as varints, in every field.
        parts.push(
          new BinaryWriter()
            .tag(field, WireType.Varint)
            .uint64(2n ** 64n - 1n)
            .finish(),
        );
    }
  }
  return Buffer.concat(parts);
}

/** Nesting thousands deep: start groups never ended, or length-delimited fields in fields. */
function deep(rng: Rng, schema: DescMessage): Uint8Array {
  const depth = int(rng, 1_000, 100_000);
  const field = schema.fields[0]?.number ?? 1;
  if (rng() < 0.5) {
    // Start-group tags, then (sometimes) as many end-group tags.
    const start = (field << 3) | WireType.StartGroup;
    const end = (field << 3) | WireType.EndGroup;
    const open = Buffer.alloc(depth, start & 0x7f);
    return rng() < 0.5 ? open : Buffer.concat([open, Buffer.alloc(depth, end & 0x7f)]);
  }
  // A message whose first field holds a message whose first field holds…: built inside out,
  // each level a tag and the length of everything inside it.
  const tag = new BinaryWriter().tag(field, WireType.LengthDelimited).finish();
  const levels = Math.min(depth, MAX_NESTED_LENGTHS);
  // Written back to front into one buffer: a level's tag and length go before what it holds.
  const out = Buffer.alloc(levels * (tag.length + MAX_VARINT32_BYTES));
  let start = out.length;
  for (let i = 0; i < levels; i++) {
    const inside = out.length - start;
    let size = 1;
    while (inside >= 128 ** size) size++;
    start -= size;
    for (let b = 0, rest = inside; b < size; b++, rest = Math.floor(rest / 128)) {
      out[start + b] = (rest % 128) | (b < size - 1 ? 0x80 : 0);
    }
    start -= tag.length;
    out.set(tag, start);
  }
  return out.subarray(start);
}

/** One string or bytes field (or an unknown one) of `size` bytes. */
function bigField(rng: Rng, schema: DescMessage, size: number): Uint8Array {
  const text = schema.fields.find(
    (f) => f.fieldKind === "scalar" && f.scalar === ScalarType.STRING,
  );
  return new BinaryWriter()
    .tag(text?.number ?? int(rng, 100, 1_000), WireType.LengthDelimited)
    .bytes(Buffer.alloc(size, pick(rng, [0x61, 0x00, 0xff])))
    .finish();
}

/** A request body for `schema`, made from the generator; the kind says how. */
export function fuzzBody(rng: Rng, schema: DescMessage): { kind: BodyKind; body: Buffer } {
  const kind: BodyKind = rng() < 1 / OVER_LIMIT_ONE_IN ? "over-limit" : pick(rng, KINDS);
  let body: Uint8Array;
  switch (kind) {
    case "typed":
      body = typedBody(rng, schema);
      break;
    case "plausible":
      body = typedBody(rng, schema, true);
      break;
    case "wrong-types":
      body = wrongTypes(rng, schema);
      break;
    case "truncated": {
      const whole = typedBody(rng, schema, true);
      body = whole.subarray(0, Math.max(0, whole.length - int(rng, 1, 8)));
      break;
    }
    case "unknown-fields": {
      const extra = new BinaryWriter()
        .tag(int(rng, 100, 536_870_911), WireType.LengthDelimited)
        .bytes(randomBytes(rng, int(rng, 0, 64)))
        .finish();
      body = Buffer.concat([typedBody(rng, schema, true), extra]);
      break;
    }
    case "huge-varints":
      body = hugeVarints(rng, schema);
      break;
    case "deep":
      body = deep(rng, schema);
      break;
    case "oversized-field":
      body = bigField(rng, schema, int(rng, OVERSIZED_FIELD.min, OVERSIZED_FIELD.max));
      break;
    case "over-limit":
      body = bigField(rng, schema, MESSAGE_LIMIT + int(rng, 1, 1_000_000));
      break;
    case "random-bytes":
      body = randomBytes(rng, int(rng, 1, 256));
      break;
    default:
      body = new Uint8Array(0);
  }
  return { kind, body: Buffer.from(body) };
}
