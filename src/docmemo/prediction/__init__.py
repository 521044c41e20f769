"""MMSE prediction: a documented, database-free model of the expected course of the score."""
