import { Worker } from 'node:worker_threads';
import type { DbJob, DbJobReply } from './db-worker.js';

/** Runs `job` on a fresh worker thread (see db-worker.ts) and resolves with its one reply. */
export function runDbJob(job: DbJob): Promise<DbJobReply> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./db-worker.js', import.meta.url), { workerData: job });
    let answered = false;
    worker.once('message', (msg: DbJobReply) => {
      answered = true;
      resolve(msg);
    });
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (!answered) reject(new Error(`the DataStore worker exited (code ${code}) without answering`));
    });
  });
}
