/**
 * Jest setup: log lines as they are written (Moleculer's and the plugins' loggers), without
 * jest's per-call stack frames, which turn one line of a hub's log into ten.
 */
import { Console } from "node:console";

globalThis.console = new Console({ stdout: process.stdout, stderr: process.stderr });
