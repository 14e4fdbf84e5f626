"""AML incidents."""
