/** Seeded-bug variants caught, with honest evidence: half 1 of the pairs (counterexamples/variant-evidence.ts). */
import { variantEvidenceTests } from './variant-evidence.ts';

variantEvidenceTests(0, 2);
