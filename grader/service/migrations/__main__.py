from grader.service.migrations import main

main()
