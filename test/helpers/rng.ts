/** Seeded randomness for tests: the same generator the model generator uses. */
export { createRng, type Rng } from '../../models/rng.ts';
