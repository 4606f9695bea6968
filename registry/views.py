from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from . import selectors


@login_required
def patient_list(request):
    patients = selectors.patients_for(request.user)
    return render(request, "registry/patient_list.html", {"patients": patients})
