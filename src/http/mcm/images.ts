import type { FastifyInstance } from 'fastify';
import { MimoeError, isMimoeError } from '../../errors/index.js';
import { toImageView } from '../../images/image.js';
import type { AppDeps } from '../deps.js';

/**
 * Errors of the multipart parser (malformed boundaries, unterminated parts, too many parts) are
 * the client's: 400. System errors (disk full...) stay internal.
 */
function asUploadError(err: unknown): unknown {
  if (isMimoeError(err)) return err;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new MimoeError('ERR_IMAGE_INVALID', `malformed multipart upload: ${message.slice(0, 200)}`, {
    cause: err,
  });
}

/** `GET/POST /images`, `DELETE /images/{id}` (seed: Images). */
export function imageRoutes(app: FastifyInstance, deps: AppDeps): void {
  app.get('/images', async (request) => {
    return { data: deps.images.list(request.clientId).map(toImageView) };
  });

  app.post('/images', async (request, reply) => {
    if (!request.isMultipart()) {
      throw new MimoeError(
        'ERR_IMAGE_INVALID',
        'upload the image as multipart/form-data in a field named "image"',
      );
    }
    let stored: ReturnType<typeof toImageView> | undefined;
    try {
      for await (const part of request.parts()) {
        if (part.type !== 'file') continue;
        if (part.fieldname !== 'image' || stored !== undefined) {
          part.file.resume();
          continue;
        }
        const record = await deps.images.ingest(request.clientId, part.file, () => part.file.truncated);
        stored = toImageView(record);
        deps.metrics.imageUploaded();
        request.log.info({ image: record.id, size: record.size, digest: record.digest }, 'image uploaded');
      }
    } catch (err) {
      throw asUploadError(err);
    }
    if (stored === undefined)
      throw new MimoeError('ERR_IMAGE_INVALID', 'the multipart field "image" holding the tar is missing');
    return reply.code(200).send(stored);
  });

  app.delete<{ Params: { id: string } }>('/images/:id', async (request) => {
    const { id } = request.params;
    const image = deps.images.get(request.clientId, id);
    if (image === undefined) throw new MimoeError('ERR_IMAGE_NOT_FOUND', `image ${id} not found`);
    deps.images.assertNotAddon(image);
    const users = deps.mims.usersOfImage(request.clientId, id);
    if (users.length > 0) {
      throw new MimoeError('ERR_IMAGE_IN_USE', `image ${id} is used by mims: ${users.join(', ')}`, {
        details: { mims: users },
      });
    }
    return toImageView(deps.images.delete(request.clientId, id));
  });
}
