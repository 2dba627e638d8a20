import fs from 'node:fs';
import type { Command } from 'commander';
import path from 'node:path';
import { parseKeyFile } from '../auth/key-file.js';
import { defaultWorkDir } from '../config/defaults.js';

/** The key file's name in a node's work dir. */
export const KEY_FILE = 'mimoe-api-key.env';

/** How a client command reaches a node: the flags that addConnectionOptions defines. */
export interface ConnectionFlags {
  url: string;
  apiKey?: string;
  workDir?: string;
  clientId?: string;
  json?: boolean;
}

/** The node-connection flags every client command takes (--url, --api-key, --work-dir, --client-id). */
export function addConnectionOptions(command: Command): Command {
  return command
    .option('--url <url>', "the node's base URL", 'http://127.0.0.1:8083')
    .option(
      '--api-key <key>',
      'MCM API key (default: the key file of --work-dir if given, else $MCM_API_KEY, else the default work dir)',
    )
    .option('--work-dir <dir>', `read the key from <dir>/${KEY_FILE} (default: the node's default work dir)`)
    .option('--client-id <id>', 'act for this client id (x-client-id)');
}

/** Where resolveApiKey looks, in its order: the help text of every client command says it so. */
export const API_KEY_SOURCES = `The API key comes from --api-key, else <work-dir>/${KEY_FILE} if --work-dir is given, else
$MCM_API_KEY, else the default work dir's ${KEY_FILE}.`;

/**
 * The MCM API key a client command uses: `--api-key`, else $MCM_API_KEY (unless --work-dir names
 * a node), else the key file of the node's work dir. Throws an Error saying what to give.
 */
export function resolveApiKey(flags: Pick<ConnectionFlags, 'apiKey' | 'workDir'>): string {
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
