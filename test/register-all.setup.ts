/** Registers every op and kernel before each test file runs, as the entry points of src/ do. */
import '../src/register-all.js';
