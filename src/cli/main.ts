import { Command, CommanderError } from 'commander';
import { ExitCode, KairosError, describeError } from '../shared/errors.ts';
import { registerCommands } from './commands/index.ts';

const program = new Command('kairos-mesh')
  .description('P2P mesh networking and coordination for edge Kubernetes')
  .version('0.1.0')
  .showHelpAfterError()
  .exitOverride();

registerCommands(program);

function fail(message: string, exitCode: number): never {
  process.stderr.write(`kairos-mesh: ${message}\n`);
  process.exit(exitCode);
}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // Commander already printed its message (or the help / version).
    process.exit(error.exitCode === 0 ? 0 : ExitCode.usage);
  }
  if (error instanceof KairosError) fail(error.message, error.exitCode);
  fail(`unexpected error: ${describeError(error)}`, ExitCode.software);
}
