#!/usr/bin/env node
/** The `tessera` command line. Each command group registers itself from its own module. */
import '../register-all.js';
import { Command } from 'commander';
import { registerDerainCommand } from './derain.js';
import { registerDoctorCommand } from './doctor.js';
import { registerMcuCommands } from './mcu.js';
import { registerRunCommands } from './run.js';
import { registerCompileCommands } from './compile.js';
import { registerServeCommand } from './serve.js';
import { registerQuantizeCommand } from './quantize.js';
import { registerEvalCommands } from './eval.js';
import { registerRagCommands } from './rag.js';
import { registerRouterCommand } from './router.js';
import { registerWebCommand } from './web.js';
import { loadChatModel, loadServedModel } from './load.js';

const program = new Command();
program.name('tessera').description('An ML compiler and LLM inference engine on WebGPU').version('0.1.0');
registerDoctorCommand(program);
registerMcuCommands(program);
registerRunCommands(program);
registerCompileCommands(program);
registerQuantizeCommand(program);
registerEvalCommands(program);
registerRagCommands(program);
registerServeCommand(program, loadChatModel, loadServedModel);
registerRouterCommand(program);
registerDerainCommand(program);
registerWebCommand(program);

await program.parseAsync(process.argv);
