import { addonInvalid } from './manifest.js';

/**
 * An addon's `.ini` beside it: env overrides per mim.
 *
 * ```ini
 * ; applies to every mim of the addon
 * LOG_LEVEL=info
 * [mim-name]
 * # applies to mim-name only, over the lines above
 * API_KEY = abc=def
 * ```
 * `;` or `#` starts a comment line; whitespace around keys and values is trimmed; the value is
 * everything after the first `=` (a `=` inside it stays), with one pair of surrounding double
 * quotes removed. Keys before any section apply to all mims.
 */
export interface AddonIni {
  readonly global: Readonly<Record<string, string>>;
  readonly sections: ReadonlyMap<string, Readonly<Record<string, string>>>;
}

export const MAX_INI_BYTES = 256 * 1024;

export function parseIni(text: string, label = 'the .ini file'): AddonIni {
  if (Buffer.byteLength(text) > MAX_INI_BYTES)
    throw addonInvalid(`${label} is larger than ${MAX_INI_BYTES} bytes`);
  const global: Record<string, string> = {};
  const sections = new Map<string, Record<string, string>>();
  let current = global;
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((rawLine, i) => {
    const line = rawLine.trim();
    const at = `${label} line ${i + 1}`;
    if (line === '' || line.startsWith(';') || line.startsWith('#')) return;
    if (line.startsWith('[')) {
      const match = /^\[\s*([^\]]+?)\s*\]$/.exec(line);
      if (match === null) throw addonInvalid(`${at}: a section header is written [mim-name]`);
      const name = match[1] as string;
      if (sections.has(name)) throw addonInvalid(`${at}: section [${name}] appears twice`);
      current = {};
      sections.set(name, current);
      return;
    }
    const eq = line.indexOf('=');
    if (eq <= 0) throw addonInvalid(`${at}: expected KEY=value, a [section] or a comment`);
    const key = line.slice(0, eq).trim();
    let value = line.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    if (key === '') throw addonInvalid(`${at}: the key is empty`);
    current[key] = value;
  });
  return { global, sections };
}

/** The env of one mim: manifest env, then the ini's global keys, then its section. */
export function envWithIni(
  manifestEnv: Readonly<Record<string, unknown>>,
  ini: AddonIni,
  mimName: string,
): Record<string, unknown> {
  return { ...manifestEnv, ...ini.global, ...(ini.sections.get(mimName) ?? {}) };
}
