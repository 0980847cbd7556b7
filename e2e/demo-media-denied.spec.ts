import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, test } from '@playwright/test';
import config from '../playwright.config.ts';
import { requireFixture } from './fixture-gate.ts';

/**
 * A camera the user refused (Chromium's fake devices, without the flag that accepts the permission
 * prompt): the demo says so where the camera would be, and the text chat keeps working.
 */
const fixtures = fileURLToPath(new URL('../../shared/fixtures/', import.meta.url));
const SLOW = { timeout: 300_000 };

test.use({ launchOptions: { ...config.use?.launchOptions, args: [...(config.use?.launchOptions?.args ?? []), '--use-fake-device-for-media-stream'] } });

test('a denied camera says so in place, and the text chat keeps working', async ({ page, context }) => {
  requireFixture(existsSync(`${fixtures}gemma3n-tiny-vision-a/model.safetensors`), 'no tiny vision fixture');
  test.setTimeout(900_000);
  await context.clearPermissions();
  // Headless Chromium without the fake-UI flag refuses capture as a user who clicked Block.
  await page.goto('/?model=tiny-vision');
  await expect(page.getByTestId('status')).toHaveText('ready', SLOW);
  await page.getByTestId('camera').click();
  await expect(page.getByTestId('media-message')).toContainText(/blocked|could not be started|No camera/);
  await expect(page.getByTestId('camera-preview')).toBeHidden();
  await page.getByTestId('prompt').fill('Hello');
  await page.getByTestId('send').click();
  await expect(page.getByTestId('answer')).toHaveAttribute('data-prompt-tokens', /\d+/, SLOW);
  await expect(page.getByTestId('answer')).toHaveAttribute('data-image-tokens', '0');
});
