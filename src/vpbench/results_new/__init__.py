"""Result analysis that a reviewer can check: statistics, calibration done right, and the paper's claims."""
