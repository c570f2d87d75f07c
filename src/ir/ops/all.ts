/** Importing this module registers every graph operator (kept apart so the registry has no cycles). */
import './elementwise.js';
import './linalg.js';
import './manipulate.js';
import './reduce.js';
import './nn.js';
import './vision.js';

export { getOpDef, opNames, ShapeError } from './registry.js';
