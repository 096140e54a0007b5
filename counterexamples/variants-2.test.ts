/** Seeded-bug variants caught, with honest evidence: half 2 of the pairs (counterexamples/variant-evidence.ts). */
import { variantEvidenceTests } from './variant-evidence.ts';

variantEvidenceTests(1, 2);
