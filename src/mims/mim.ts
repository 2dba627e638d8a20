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
  status: 'up' | 'crashed';
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
