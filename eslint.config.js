// ESLint flat config: typescript-eslint's recommended rules over the TypeScript and JavaScript
// sources. Type checking itself is `tsc --noEmit` (npm run lint runs both).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  {
    ignores: ['node_modules/**', 'dist/**', 'dist.*/**', 'models/**', 'tools/**', 'data/**', 'migrations/**', 'coverage/**', 'tmp/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: 'module',
      globals: { ...globals.node },
    },
    rules: {
      // `_`-prefixed parameters are deliberately unused (interface shapes, callbacks).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // Fakes of wire protocols (Discord, Slack, ONNX tensors) handle untyped JSON; flag `any`
      // for review without failing the build on it.
      '@typescript-eslint/no-explicit-any': 'warn',
      // Control characters in regular expressions are how user text is checked and escaped.
      'no-control-regex': 'off',
    },
  },
);
