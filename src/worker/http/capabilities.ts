/**
 * `GET /v1/capabilities`: token limit, layer, d_model, SAE width and architecture, backends and
 * device, so a client can check a request before sending it.
 */
import { CapabilitiesSchema } from '../../protocol/analyze';
import type { Route } from './route';

export { CapabilitiesSchema };

export const capabilitiesRoute: Route = {
  method: 'GET',
  path: '/v1/capabilities',
  auth: true,
  async handle({ engine }) {
    return engine.capabilities();
  },
};
