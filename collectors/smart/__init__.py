"""smart"""
