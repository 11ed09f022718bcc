/** How the bot reaches inference: the only module outside the worker that talks to workers. */
export { createInferenceClient, type InferenceClient, type InferenceClientOptions } from './client';
export { createNeuronpediaInferenceClient, type NeuronpediaClientOptions } from './neuronpedia';
export { WorkerRejectedError, WorkerUnavailableError, type WorkerAttempt } from './errors';
export type { PoolCapacity, WorkerStatus } from './pool';
export { checkNeuronpediaServers, type ServerCheck } from './neuronpedia-check';
export { parseNeuronpediaSetting, type NeuronpediaSetting } from './neuronpedia-setting';
