export { Daemon, type DaemonStarted } from './daemon.ts';
