/** The installer: immutable A/B install, upgrade, boot assessment and reset from OS images. */
export { install, OEM_CONFIG_NAME, type InstallOptions, type InstallResult } from './install.ts';
export { upgrade, type UpgradeOptions, type UpgradeResult } from './upgrade.ts';
export { reset, type ResetOptions } from './reset.ts';
export { bootMarkGood, bootSelect, bootSimulate, bootStatus, type BootStatus } from './boot.ts';
export { BOOT_SLOTS, DEFAULT_TRIES, MAX_TRIES, type BootSlot, type AssessmentStatus } from './boot-rules.ts';
export { createProgress, silentProgress, type Progress } from './progress.ts';
export { planLayout, type DiskLayout } from './layout.ts';
export { parseSource } from './source/reference.ts';
export { confirmer, credentialsFromEnv } from './interactive.ts';
