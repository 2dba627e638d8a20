import fs from 'node:fs';
import path from 'node:path';
import { parseKeyFile } from '../auth/key-file.js';
import { defaultWorkDir } from '../config/defaults.js';

/** The key file's name in a node's work dir. */
export const KEY_FILE = 'mimoe-api-key.env';

export interface KeyFlags {
  apiKey?: string;
  workDir?: string;
}

/**
 * The MCM API key a client command uses: `--api-key`, else $MCM_API_KEY (unless --work-dir names
 * a node), else the key file of the node's work dir. Throws an Error saying what to give.
 */
export function resolveApiKey(flags: KeyFlags): string {
  if (flags.apiKey !== undefined && flags.apiKey !== '') return flags.apiKey;
  const env = process.env['MCM_API_KEY'];
  if (flags.workDir === undefined && env !== undefined && env !== '') return env;
  const file = path.join(path.resolve(flags.workDir ?? defaultWorkDir()), KEY_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new Error(
      `no API key: give --api-key, set MCM_API_KEY, or point --work-dir at a node's work dir (${file} is not readable)`,
    );
  }
  const key = parseKeyFile(text).get('MCM_API_KEY');
  if (key === undefined || key === '') throw new Error(`${file} defines no MCM_API_KEY`);
  return key;
}
