"""Urbanism pieces handed in after filing: the applicant's upload completes the file."""
