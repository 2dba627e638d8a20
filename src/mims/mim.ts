/** The mim object of the seed (`GET /mims`). */
export interface MimView {
  id: string;
  name: string;
  image: string;
  imageId: string;
  clientId: string;
  /** Unix milliseconds. */
  created: number;
  state: 'started' | 'stopped';
  /** `not-restored`: recorded, but left out at this start (see MimRegistry.restoreAll). */
  status: 'up' | 'crashed' | 'not-restored';
  env: Record<string, string>;
}

export interface MimRecord {
  id: string;
  clientId: string;
  name: string;
  image: string;
  imageId: string;
  /** The image blob this deployment runs, fixed at deploy time. */
  blob: string;
  created: number;
  env: Record<string, string>;
}
