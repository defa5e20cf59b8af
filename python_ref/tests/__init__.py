# Test package of python_ref (makes pytest import the tests as python_ref.tests.*).
