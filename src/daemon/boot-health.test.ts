import { describe, expect, it } from 'vitest';
import { bootedFromKairosSlot } from './boot-health.ts';

describe('boot health', () => {
  it('acts only on a kernel booted from a Kairos slot', () => {
    expect(
      bootedFromKairosSlot(
        'BOOT_IMAGE=/boot/vmlinuz root=LABEL=COS_ACTIVE kairos.slot=active kairos.image=active.img',
      ),
    ).toBe(true);
    expect(bootedFromKairosSlot('BOOT_IMAGE=/boot/vmlinuz-6.1 root=/dev/vda1 ro quiet')).toBe(false);
    expect(bootedFromKairosSlot('nokairos.slot=active')).toBe(false);
  });
});
