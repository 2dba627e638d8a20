import fs from 'node:fs';

/**
 * The env of `mimoe mim deploy`, from `--env-from` then each `--env` (a later key wins). Only the
 * shape is checked here (KEY=VALUE, a key before the `=`); what the keys and values mean is the
 * node's to judge, and its 400 says what is wrong.
 */
export function collectEnv(envFile: string | undefined, pairs: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  if (envFile !== undefined) Object.assign(env, readEnvFile(envFile));
  for (const pair of pairs) {
    const parsed = splitPair(pair);
    if (parsed === undefined) throw new Error(`--env ${JSON.stringify(pair)} is not KEY=VALUE`);
    env[parsed[0]] = parsed[1];
  }
  return env;
}

/** commander's collector for a repeatable option. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/**
 * A dotenv-style file: `KEY=VALUE` lines, blank lines and `#` comments skipped. The value is
 * taken as it is, quotes included (as `docker run --env-file` does), so nothing is guessed.
 */
function readEnvFile(file: string): Record<string, string> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const env: Record<string, string> = {};
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trimStart();
    if (line === '' || line.startsWith('#')) return;
    const parsed = splitPair(line);
    if (parsed === undefined) throw new Error(`${file}:${index + 1}: expected KEY=VALUE`);
    env[parsed[0]] = parsed[1];
  });
  return env;
}

function splitPair(pair: string): [string, string] | undefined {
  const eq = pair.indexOf('=');
  if (eq <= 0) return undefined;
  const key = pair.slice(0, eq).trim();
  return key === '' ? undefined : [key, pair.slice(eq + 1)];
}
