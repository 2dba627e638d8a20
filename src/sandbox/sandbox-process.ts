/**
 * The supervisor's handle on one sandbox process: fork with the flags isolated-vm needs, wait for
 * `ready`, send typed messages, and stop it (politely, then by force).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { MimoeError } from '../errors/index.js';
import { EXIT_MISSING_FLAG, isFromSandbox, type FromSandbox, type ToSandbox } from './protocol.js';

/** The compiled sandbox entry (dist/src/sandbox/host/main.js), next to this compiled file. */
const ENTRY = fileURLToPath(new URL('./host/main.js', import.meta.url));
/** `--no-node-snapshot`: isolated-vm on Node 20 crashes V8 without it (the entry checks). */
const EXEC_ARGV = ['--no-node-snapshot'];
/** How long a sandbox gets to exit after its IPC channel is closed before it is killed. */
const STOP_GRACE_MS = 500;

export interface SandboxProcessEvents {
  message(message: FromSandbox): void;
  /** The process is gone (crash, kill, or exit), whether or not it was ready. */
  exit(code: number | null, signal: NodeJS.Signals | null): void;
}

export class SandboxProcess {
  private readonly child: ChildProcess;
  private exited = false;
  private readonly exitedPromise: Promise<void>;
  /** Resolves on `ready`; rejects if the process exits first. */
  readonly ready: Promise<void>;

  constructor(events: SandboxProcessEvents) {
    this.child = fork(ENTRY, [], {
      execArgv: EXEC_ARGV,
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let onReady: () => void = () => undefined;
    let onEarlyExit: (err: Error) => void = () => undefined;
    this.ready = new Promise<void>((resolve, reject) => {
      onReady = resolve;
      onEarlyExit = reject;
    });
    // A process that dies before start() looks at `ready` must not leave an unhandled rejection.
    this.ready.catch(() => undefined);
    this.exitedPromise = new Promise<void>((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exited = true;
        const how =
          code === EXIT_MISSING_FLAG
            ? 'it was started without --no-node-snapshot'
            : `code ${String(code)}, signal ${String(signal)}`;
        onEarlyExit(new MimoeError('ERR_INTERNAL', `sandbox process exited before it was ready (${how})`));
        resolve();
        events.exit(code, signal);
      });
    });
    this.child.on('message', (message: unknown) => {
      if (!isFromSandbox(message)) return;
      if (message.t === 'ready') onReady();
      else events.message(message);
    });
    // Sending to a process that just died fails here; its 'exit' handles the consequences.
    this.child.on('error', () => undefined);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get alive(): boolean {
    return !this.exited;
  }

  send(message: ToSandbox): void {
    if (this.exited || !this.child.connected) return;
    this.child.send(message, undefined, undefined, () => undefined);
  }

  /** Kills at once (a wedged sandbox is not waited for). */
  kill(): void {
    if (!this.exited) this.child.kill('SIGKILL');
  }

  /** Closes the IPC channel (the sandbox exits on disconnect), then kills it if it lingers. */
  async stop(): Promise<void> {
    if (this.exited) return;
    if (this.child.connected) this.child.disconnect();
    const timer = setTimeout(() => this.kill(), STOP_GRACE_MS);
    await this.exitedPromise;
    clearTimeout(timer);
  }
}
