"""The query engine every analysis reads through: a typed query model, compilers to SQL, a runner."""
