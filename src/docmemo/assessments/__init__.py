"""MMSE assessments: a patient's history of scores, and recording a new one."""
