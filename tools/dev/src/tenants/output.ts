import { styleText } from "node:util";
import type { CliError } from "./errors.ts";
import { noPaint, type Paint } from "./render.ts";

/** A display that changes while the CLI follows something: redrawn on a terminal, one line per change otherwise. */
export interface LiveView {
  /** `block` is what a terminal shows; `key` decides whether a piped output prints `line` (default: key). */
  update(block: readonly string[], key: string, line?: string): void;
  /** Leaves the last block on screen (terminal) and restores the cursor. */
  done(): void;
}

/** Where and how a command writes: human text or one JSON document; colours and live views only on a terminal. */
export interface Output {
  readonly json: boolean;
  /** stdout is a terminal and the output is not JSON: progress bars, redrawing, colours. */
  readonly tty: boolean;
  readonly paint: Paint;
  /** The command's result: `value` as JSON, or `human` as text. */
  result(value: unknown, human: string | (() => string)): void;
  /** A line for people (not printed with --json). */
  note(text: string): void;
  live(): LiveView;
  /** A line on stderr, whatever the format (the result stays the only thing on stdout). */
  warn(command: string, text: string): void;
  /** Reports a failure on stderr (and as `{"error": …}` on stdout with --json). */
  error(command: string, err: CliError): void;
}

/** Output on the process's stdout/stderr. */
export function createOutput(json: boolean, stdout: NodeJS.WriteStream = process.stdout): Output {
  const tty = !json && stdout.isTTY === true;
  const paint: Paint = tty ? (style, text) => styleText(style, text, { stream: stdout }) : noPaint;
  const print = (text: string) => stdout.write(`${text}\n`);
  return {
    json,
    tty,
    paint,
    result(value, human) {
      if (json) print(JSON.stringify(value, null, 2));
      else print(typeof human === "string" ? human : human());
    },
    note(text) {
      if (!json) print(text);
    },
    live() {
      if (json) return { update() {}, done() {} };
      if (!tty) {
        let last: string | undefined;
        return {
          update(_block, key, line) {
            if (key === last) return;
            last = key;
            print(line ?? key);
          },
          done() {},
        };
      }
      let drawn = 0;
      // a pseudo-terminal may report no size (0): fall back to COLUMNS, then a common width
      const width = () => Math.max(20, (stdout.columns || Number(process.env.COLUMNS) || 120) - 1);
      stdout.write("\x1b[?25l");
      const restore = () => stdout.write("\x1b[?25h");
      process.once("exit", restore);
      return {
        update(block) {
          // lines longer than the terminal would wrap and break the count of lines to redraw
          const lines = block.map((l) => truncate(l, width()));
          stdout.write(`${drawn > 0 ? `\x1b[${drawn}F` : ""}\x1b[J${lines.join("\n")}\n`);
          drawn = lines.length;
        },
        done() {
          restore();
          process.off("exit", restore);
        },
      };
    },
    warn(command, text) {
      process.stderr.write(`tessera tenants ${command}: ${text}\n`);
    },
    error(command, err) {
      process.stderr.write(`tessera tenants ${command}: ${err.message}\n`);
      if (json) print(JSON.stringify({ error: { code: err.code ?? null, message: err.message } }, null, 2));
    },
  };
}

const ESC = "\x1b";
/** A colour (SGR) escape sequence at the start of a string. */
const SGR = new RegExp(`^${ESC}\\[[0-9;]*m`);

/** Cuts a line to `width` visible characters, keeping its colour codes intact. */
function truncate(line: string, width: number): string {
  let visible = 0;
  let out = "";
  for (let i = 0; i < line.length; i++) {
    const esc = line[i] === ESC ? SGR.exec(line.slice(i)) : null;
    if (esc) {
      out += esc[0];
      i += esc[0].length - 1;
      continue;
    }
    if (visible >= width) continue;
    out += line[i];
    visible++;
  }
  return out;
}
