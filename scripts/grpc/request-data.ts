/**
 * grpcurl's `-d`: zero or more JSON values one after the other (whitespace between them is
 * optional for objects), as Go's json.Decoder reads a stream; one per request message.
 */
import type { JsonValue } from "@bufbuild/protobuf";

/** Request data that is not a sequence of JSON values. */
export class RequestDataError extends Error {}

/** The end (exclusive) of the JSON value that starts at `start`: objects, arrays, strings, words. */
function endOfValue(text: string, start: number): number {
  let depth = 0;
  let i = start;
  do {
    const c = text[i];
    if (c === '"') {
      // Skip the string, escapes included.
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === "\\") i++;
    } else if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") depth--;
    else if (depth === 0) {
      // A number, true, false or null: up to the next delimiter.
      while (i + 1 < text.length && !/[\s{}[\]",]/.test(text[i + 1])) i++;
    }
    i++;
  } while (depth > 0 && i < text.length);
  return i;
}

/** The JSON values in `text`, in order; none for empty or blank text. */
export function jsonMessages(text: string): JsonValue[] {
  const values: JsonValue[] = [];
  let i = 0;
  for (;;) {
    while (i < text.length && /\s/.test(text[i])) i++;
    if (i >= text.length) return values;
    const end = endOfValue(text, i);
    const piece = text.slice(i, end);
    try {
      values.push(JSON.parse(piece) as JsonValue);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      throw new RequestDataError(`message ${values.length + 1} is not valid JSON: ${reason}`);
    }
    i = end;
  }
}
